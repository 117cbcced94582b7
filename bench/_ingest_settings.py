"""Bench-only settings: chatrk's, plus a bare signed-200 view to compare the webhook against."""

from chatrk.settings import *  # noqa: F403

WEBHOOK_URLCONF = "_ingest_urls"
DEBUG = False
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}}
