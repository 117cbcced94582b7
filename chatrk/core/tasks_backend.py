"""A ``django.tasks`` backend that hands tasks to Huey: SqliteHuey embedded, RedisHuey at scale.

Tasks are enqueued by import path with JSON arguments (never pickled callables), so any worker on
any machine runs the same code; ``chatrk worker`` consumes the queue.
"""

from __future__ import annotations

import json
import threading
from functools import cache
from typing import Any

from django.conf import settings
from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.utils.module_loading import import_string
from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey

from chatrk.core.clock import now


@cache
def huey() -> Huey:
    config = settings.HUEY
    if config["backend"] == "redis":
        return RedisHuey("chatrk", url=config["url"])
    return SqliteHuey("chatrk", filename=config["path"])


def _run(path: str, payload: str) -> None:
    arguments = json.loads(payload)
    import_string(path).call(*arguments["args"], **arguments["kwargs"])


_registering = threading.Lock()


def _huey_task() -> Any:
    """Huey's one task, which runs ours by import path. Registered once per process: the lock, because
    the first enqueues can come from several request threads at once, and Huey refuses a second
    registration under the same name."""
    with _registering:
        return _registered_task()


@cache
def _registered_task() -> Any:
    return huey().task(name="chatrk.run")(_run)


def register_periodic_tasks() -> None:
    """Schedules every task in ``settings.PERIODIC_TASKS`` (import path → minutes) on the worker.

    Huey's scheduler enqueues each one at its cadence; whichever worker is free runs it, so at scale a
    task still runs once per period, not once per machine.
    """
    for path, minutes in settings.PERIODIC_TASKS.items():
        task: Task[Any, Any] = import_string(path)
        name = "periodic:" + path
        huey().periodic_task(crontab(minute=f"*/{minutes}"), name=name)(task.call)


class HueyBackend(BaseTaskBackend):
    supports_defer = False
    supports_async_task = False
    supports_get_result = False
    supports_priority = False

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any, Any]:
        self.validate_task(task)
        payload = json.dumps({"args": list(args), "kwargs": dict(kwargs)})
        result = _huey_task()(task.module_path, payload)
        return TaskResult(
            task=task,
            id=str(result.id),
            status=TaskResultStatus.READY,
            enqueued_at=now(),
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=list(args),
            kwargs=dict(kwargs),
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
