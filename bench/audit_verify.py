"""``chatrk audit verify`` over 100,000 events with a checkpoint every 1,000 (goal ≤ 10 s).

The events are written through ``record(...)`` (1,000 per transaction, to keep set-up short), then the
real command runs in a fresh process; its wall time, Django start-up included, is the figure.

    python bench/audit_verify.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from _harness import REPO, engine, main

EVENTS = 100_000
BATCH = 1_000


def _populate() -> float:
    from django.db import transaction

    from chatrk.audit.actions import Actor, Origin, record
    from chatrk.audit.checkpoints import publish_checkpoint

    origin = Origin(ip="198.51.100.20", user_agent="bench")
    started = time.perf_counter()
    for batch in range(EVENTS // BATCH):
        with transaction.atomic():
            for number in range(BATCH):
                record(
                    "sensitive_read",
                    actor=Actor.user(number % 50),
                    workspace_id=batch % 7,
                    target=("message", batch * BATCH + number),
                    origin=origin,
                    details={"field": "body", "n": number},
                )
        publish_checkpoint()
    return time.perf_counter() - started


def _proof_seconds() -> tuple[float, float]:
    """One inclusion and one consistency proof at the full size, in process (the API's cost)."""
    from chatrk.audit.models import AuditEvent
    from chatrk.audit.proofs import prove_consistency, prove_inclusion

    event = AuditEvent.objects.get(seq=EVENTS // 3)
    started = time.perf_counter()
    prove_inclusion(event, EVENTS)
    inclusion = time.perf_counter() - started
    started = time.perf_counter()
    prove_consistency(EVENTS // 2 + 1, EVENTS)
    return inclusion, time.perf_counter() - started


def measure() -> dict[str, Any]:
    populate_seconds = _populate()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "chatrk", "audit", "verify"],
        cwd=REPO, env=os.environ, capture_output=True, text=True, check=False,
    )  # fmt: skip
    verify_seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stderr)
    inclusion_seconds, consistency_seconds = _proof_seconds()
    return {
        "engine": engine(),
        "events": EVENTS,
        "checkpoints": EVENTS // BATCH,
        "verify_seconds": round(verify_seconds, 2),
        "goal_seconds": 10,
        "inclusion_proof_seconds": round(inclusion_seconds, 3),
        "consistency_proof_seconds": round(consistency_seconds, 3),
        "verify_output": done.stdout.strip(),
        "populate_seconds": round(populate_seconds, 1),
    }


if __name__ == "__main__":
    main(__file__, measure, __doc__ or "")
