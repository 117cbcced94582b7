"""Background entry points (thin: ids in, actions called)."""

from __future__ import annotations

from django.tasks import task

from chatrk.ingest import actions, media


@task()
def drain() -> int:
    """Applies every due webhook event; returns how many were applied."""
    return actions.drain().applied


@task()
def fetch_media(media_id: int) -> str:
    return media.fetch(media_id)
