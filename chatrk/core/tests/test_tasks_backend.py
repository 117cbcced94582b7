"""django.tasks through Huey: tasks run by import path with JSON arguments; periodic ones are scheduled."""

from __future__ import annotations

from datetime import datetime
from functools import cache as cache_of

import pytest
from django.test import override_settings

from chatrk.core import tasks_backend
from chatrk.core.tests import sample_tasks


@pytest.fixture
def memory_huey(monkeypatch: pytest.MonkeyPatch) -> object:
    from huey import MemoryHuey

    queue = MemoryHuey("test", immediate=True)
    monkeypatch.setattr(tasks_backend, "huey", lambda: queue)
    tasks_backend._registered_task.cache_clear()
    yield queue
    tasks_backend._registered_task.cache_clear()


def test_an_enqueued_task_runs_with_its_json_arguments(memory_huey: object) -> None:
    sample_tasks.seen.clear()
    result = sample_tasks.remember.enqueue(7, label="seven")
    assert result.status == "READY" and result.args == [7]
    assert sample_tasks.seen == [(7, "seven")]


def test_arguments_that_are_not_json_are_refused(memory_huey: object) -> None:
    with pytest.raises(TypeError):
        sample_tasks.remember.enqueue(object(), label="x")  # type: ignore[arg-type]


@override_settings(PERIODIC_TASKS={"chatrk.core.tests.sample_tasks.remember_tick": 5})
def test_periodic_tasks_are_scheduled_at_their_cadence(memory_huey: object) -> None:
    from huey.api import Huey

    assert isinstance(memory_huey, Huey)
    tasks_backend.register_periodic_tasks()
    name = "periodic:chatrk.core.tests.sample_tasks.remember_tick"
    due_at = {
        minute: [t.name for t in memory_huey.read_periodic(datetime(2026, 1, 1, 9, minute))]
        for minute in (0, 3, 5)
    }
    assert name in due_at[0] and name in due_at[5] and name not in due_at[3]


def test_the_first_enqueues_from_many_threads_register_huey_s_task_once(memory_huey: object) -> None:
    import threading
    import time

    registrations: list[int] = []
    register = tasks_backend._registered_task.__wrapped__

    def slow_register() -> object:
        registrations.append(1)
        time.sleep(0.05)  # wide enough for every thread to arrive while the first registers
        return register()

    cached = cache_of(slow_register)
    original = tasks_backend._registered_task
    tasks_backend._registered_task = cached
    try:
        threads = [threading.Thread(target=tasks_backend._huey_task) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        tasks_backend._registered_task = original
    assert registrations == [1]
