"""Bench: rotation of 100,000 encrypted values (goal <= 60 s with flat memory).

Writes 100,000 workspace-keyed values, then runs ``rotate_workspace`` (new version, wait for other
processes' key caches, re-encrypt in keyset batches, retire the old version), sampling resident memory
after every batch. Last line: one JSON object.
"""

from __future__ import annotations

import json
import sys
import time

from _django import rss_bytes, setup

setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from chatrk.audit.actions import SYSTEM  # noqa: E402
from chatrk.core.clock import now  # noqa: E402
from chatrk.core.ids import new_id  # noqa: E402
from chatrk.core.models import Workspace  # noqa: E402
from chatrk.crypto import rotation  # noqa: E402
from chatrk.crypto.envelope import key_id_of  # noqa: E402
from chatrk.crypto.fields import open_for_system  # noqa: E402
from chatrk.crypto.tests.models import Secret  # noqa: E402

VALUES = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
BATCH = 2_000


def populate(workspace: Workspace) -> float:
    started = time.perf_counter()
    for offset in range(0, VALUES, 5_000):
        rows = [
            Secret(workspace=workspace, value=f"value {n:06d} " + "x" * 180)
            for n in range(offset, min(offset + 5_000, VALUES))
        ]
        Secret.objects.bulk_create(rows, batch_size=1_000)
    return time.perf_counter() - started


def main() -> None:
    workspace = Workspace.objects.create(name="Bench", slug=f"bench-{new_id()}", created_at=now())
    populate_seconds = populate(workspace)
    samples: list[int] = []

    def progress(done: int, total: int) -> None:
        samples.append(rss_bytes())

    rss_before = rss_bytes()
    started = time.perf_counter()
    job = rotation.rotate_workspace(workspace.pk, actor=SYSTEM, batch_size=BATCH, progress=progress)
    seconds = time.perf_counter() - started

    new_key = int(job.new_key)
    sample = Secret.objects.filter(workspace=workspace).order_by("?")[:100]
    assert all(key_id_of(row.value) == new_key for row in sample)
    assert all(open_for_system(row, "value").startswith("value ") for row in sample)
    grace = settings.CRYPTO_KEY_CACHE_SECONDS
    result = {
        "bench": "rotation",
        "database": connection.vendor,
        "values": VALUES,
        "batch_size": BATCH,
        "populate_seconds": round(populate_seconds, 2),
        "rotation_seconds": round(seconds, 2),
        "of_which_cache_grace_seconds": grace,
        "values_per_second": round(VALUES / seconds),
        "goal_seconds": 60,
        "rss_mb_before": round(rss_before / 2**20, 1),
        "rss_mb_max_during": round(max(samples) / 2**20, 1),
        "rss_mb_after_first_batch": round(samples[min(2, len(samples) - 1)] / 2**20, 1),
        "rss_mb_end": round(samples[-1] / 2**20, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
