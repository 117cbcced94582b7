"""The thin tasks: the 15-minute sync fans out per channel; submission and sync call their actions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from django.tasks import default_task_backend
from django.test import override_settings
from huey import MemoryHuey

from chatrk.inbox.models import Channel
from chatrk.msgtemplates import actions, tasks
from chatrk.msgtemplates.testing import make_channel, make_template
from chatrk.testing import make_workspace
from chatrk.whatsapp.errors import FailureKind, GraphError, RetryClass

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _dummy_tasks() -> Iterator[None]:
    with override_settings(TASKS={"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}):
        yield


def test_the_periodic_sync_enqueues_one_task_per_connected_channel() -> None:
    workspace = make_workspace()
    first, second = make_channel(workspace), make_channel(workspace)
    gone = make_channel(make_workspace())
    Channel.objects.filter(pk=gone.pk).update(health=Channel.Health.DISCONNECTED)
    tasks.sync_all_templates.call()
    results = default_task_backend.results  # type: ignore[attr-defined]
    assert sorted(r.args[0] for r in results) == sorted([first.pk, second.pk])


def test_the_worker_syncs_templates_every_15_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    from chatrk.core import tasks_backend

    huey = MemoryHuey("test", immediate=False)
    monkeypatch.setattr(tasks_backend, "huey", lambda: huey)
    tasks_backend.register_periodic_tasks()
    name = "periodic:chatrk.msgtemplates.tasks.sync_all_templates"
    due = {
        minute: {t.name for t in huey.read_periodic(datetime(2026, 11, 29, 6, minute))}
        for minute in (7, 15, 45)
    }
    assert name in due[15] and name in due[45] and name not in due[7]


def test_the_sync_task_swallows_graph_errors_and_skips_missing_channels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel = make_channel(make_workspace())
    calls: list[int] = []

    def failing(found: Channel, **_: Any) -> None:
        calls.append(found.pk)
        raise GraphError(kind=FailureKind.TIMEOUT, retry_class=RetryClass.RETRY_BACKOFF)

    monkeypatch.setattr(actions, "sync_templates", failing)
    tasks.sync_channel_templates.call(channel.pk)
    tasks.sync_channel_templates.call(999999)
    assert calls == [channel.pk]


def test_the_submit_task_calls_the_action(monkeypatch: pytest.MonkeyPatch) -> None:
    template = make_template(make_workspace(), stage="approved")
    seen: list[int] = []
    monkeypatch.setattr(actions, "submit_to_meta", lambda template_id: seen.append(template_id))
    tasks.submit_template.call(template.pk)
    assert seen == [template.pk]
