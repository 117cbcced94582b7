"""Audit appends per second: ``record(...)`` each in its own committed transaction (goal ≥ 2,000/s).

Measures one writer and several concurrent writers, until every event is also sequenced into the
tree, with the default checkpoint cadence (a signed, exported checkpoint every 1,000 events) included.

    python bench/audit_append.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import threading
import time
from typing import Any

from _harness import engine, main

EVENTS = 16_000
THREADS = 8


def _append(count: int, worker: int) -> None:
    from django.db import connections

    from chatrk.audit.actions import Actor, Origin, record

    origin = Origin(ip="203.0.113.9", user_agent="bench")
    for number in range(count):
        record(
            "authn_login_success",
            actor=Actor.user(worker),
            workspace_id=worker,
            target=("session", number),
            origin=origin,
            details={"method": "password", "n": number},
        )
    connections.close_all()


def _rate(threads: int, per_thread: int) -> float:
    """Events per second until every one is committed *and* sequenced into the tree."""
    from chatrk.audit.sequencer import sequence_pending

    workers = [threading.Thread(target=_append, args=(per_thread, index)) for index in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    sequence_pending()  # the stragglers the after-commit hooks left for the next batch
    return threads * per_thread / (time.perf_counter() - started)


def _bare_commits_per_second(count: int = 2000) -> int:
    """The engine's own ceiling here: one-row INSERT + COMMIT on a scratch table, no audit code."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_scratch (id INTEGER PRIMARY KEY, v TEXT)")
    started = time.perf_counter()
    for number in range(count):
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_scratch (id, v) VALUES (%s, 'x')", [number])
    rate = count / (time.perf_counter() - started)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_scratch")
    return round(rate)


def measure() -> dict[str, Any]:
    from chatrk.audit.verify import verify_log

    bare = _bare_commits_per_second()
    one_writer = _rate(1, EVENTS)
    concurrent = _rate(THREADS, EVENTS // THREADS)
    report = verify_log()
    return {
        "engine": engine(),
        "events": report.tree_size,
        "pending_after_run": report.pending,
        "checkpoints": report.checkpoints_checked,
        "appends_per_second_1_writer": round(one_writer),
        f"appends_per_second_{THREADS}_writers": round(concurrent),
        "bare_insert_commits_per_second_1_writer": bare,
        "goal_per_second": 2000,
    }


if __name__ == "__main__":
    main(__file__, measure, __doc__ or "")
