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


def measure() -> dict[str, Any]:
    from chatrk.audit.verify import verify_log

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
        "goal_per_second": 2000,
    }


if __name__ == "__main__":
    main(__file__, measure, __doc__ or "")
