"""Thin tasks: ``refresh_planner_statistics`` runs hourly (``settings.PERIODIC_TASKS``)."""

from __future__ import annotations

from django.tasks import task

from chatrk.core import planner


@task
def refresh_planner_statistics() -> None:
    planner.refresh_statistics()
