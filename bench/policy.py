"""Bench: the content-policy check per message.

``check_text`` (the pure engine, what the ≤ 1 ms budget is about) over every message of the labelled
set, many rounds, warm; then ``check_outbound_message`` (tuning read, volume counters, engine) through
the database, each in its own transaction and all inside one (as the outbound gate runs it).
Last line: one JSON object.
"""

from __future__ import annotations

import json
import statistics
import time

from _django import setup

setup()

from django.db import transaction  # noqa: E402

from chatrk.core.clock import now  # noqa: E402
from chatrk.core.ids import new_id  # noqa: E402
from chatrk.core.models import Workspace  # noqa: E402
from chatrk.policy.actions import check_outbound_message  # noqa: E402
from chatrk.policy.engine import check_text, compiled  # noqa: E402
from chatrk.policy.evaluate import labelled  # noqa: E402

ROUNDS = 30
DB_MESSAGES = 2_000


def micro(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1e3, 4),
        "p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1e3, 4),
        "max_ms": round(ordered[-1] * 1e3, 4),
    }


def main() -> None:
    started = time.perf_counter()
    compiled()
    load_ms = (time.perf_counter() - started) * 1e3
    texts = [row["text"] for row in labelled()]
    long_text = " ".join(texts[:40])[:4_000]  # a 4,000-character message, the Cloud API's text limit
    for text in texts:
        check_text(text)
    engine: list[float] = []
    for _ in range(ROUNDS):
        for text in texts:
            t0 = time.perf_counter()
            check_text(text)
            engine.append(time.perf_counter() - t0)
    longest: list[float] = []
    for _ in range(200):
        t0 = time.perf_counter()
        check_text(long_text)
        longest.append(time.perf_counter() - t0)
    workspace = Workspace.objects.create(name="Bench", slug=f"bench-{new_id()}", created_at=now())
    database: list[float] = []
    for i in range(DB_MESSAGES):
        text = texts[i % len(texts)]
        t0 = time.perf_counter()
        check_outbound_message(workspace.pk, text)
        database.append(time.perf_counter() - t0)
    in_transaction: list[float] = []
    with transaction.atomic():  # as the outbound gate calls it: inside its own transaction
        for i in range(DB_MESSAGES):
            text = texts[i % len(texts)]
            t0 = time.perf_counter()
            check_outbound_message(workspace.pk, text)
            in_transaction.append(time.perf_counter() - t0)
    result = {
        "bench": "policy",
        "messages": len(texts),
        "checks": len(engine),
        "load_packs_ms": round(load_ms, 1),
        "check_text": micro(engine),
        "check_text_4000_chars": micro(longest),
        "check_outbound_message_db": micro(database),
        "check_outbound_message_in_transaction": micro(in_transaction),
        "budget_median_ms": 1.0,
    }
    result["within_budget"] = result["check_text"]["median_ms"] <= 1.0  # type: ignore[index]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
