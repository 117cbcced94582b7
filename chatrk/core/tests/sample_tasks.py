"""Tasks used by the task-backend tests."""

from __future__ import annotations

from django.tasks import task

seen: list[tuple[int, str]] = []


@task
def remember(value: int, *, label: str) -> None:
    seen.append((value, label))


@task
def remember_tick() -> None:
    seen.append((0, "tick"))
