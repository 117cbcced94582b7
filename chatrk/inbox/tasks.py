"""Thin tasks: take ids, call actions. Idempotent: running one twice changes nothing more.

``wake_snoozed_conversations`` runs every minute (``settings.PERIODIC_TASKS``, scheduled by the worker).
"""

from __future__ import annotations

from django.tasks import task

from chatrk.inbox import work


@task
def wake_snoozed_conversations() -> None:
    work.wake_snoozed()
