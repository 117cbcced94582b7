"""Bench: the consent gate. Per-send latency of ``check_consent`` (target ≤ 0.2 ms) and a campaign-sized
batch of 100,000 gate checks through ``check_consent_many`` (target ≤ 20 s).

Usage: ``python bench/consent.py [N]`` (N contacts, default 100,000). Last line: one JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from _django import setup

setup()

from django.db import connection  # noqa: E402

from chatrk.consent.gate import check_consent, check_consent_many  # noqa: E402
from chatrk.consent.models import ConsentEvent, ConsentState  # noqa: E402
from chatrk.core.clock import now  # noqa: E402
from chatrk.core.ids import new_id  # noqa: E402
from chatrk.core.models import Workspace  # noqa: E402
from chatrk.crypto.envelope import Sealed  # noqa: E402
from chatrk.inbox.models import Contact  # noqa: E402

SINGLE_ROUNDS = 20_000


def seed(workspace: Workspace, count: int) -> list[int]:
    """Contacts and their consent state, written in bulk (the gate reads only the state table; the
    events it points at exist so the foreign keys hold). Two contacts in three have marketing consent."""
    moment = now()
    ids = [new_id() for _ in range(count)]
    contacts = []
    for i in ids:
        person = Contact(id=i, workspace=workspace, created_at=moment)
        # The gate never reads a contact's fields: a placeholder ciphertext avoids creating 100,000
        # subject keys just to seed the bench (real contacts are created by contact_for).
        person.wa_id = Sealed(b"bench")
        contacts.append(person)
    Contact.objects.bulk_create(contacts, batch_size=2_000)
    events = [
        ConsentEvent(
            id=new_id(),
            workspace=workspace,
            contact_id=i,
            purpose="marketing",
            kind="grant",
            source="import",
            change_id=i,
            captured_by_kind="system",
            occurred_at=moment,
            recorded_at=moment,
        )
        for n, i in enumerate(ids)
        if n % 3
    ]
    ConsentEvent.objects.bulk_create(events, batch_size=2_000)
    ConsentState.objects.bulk_create(
        (
            ConsentState(
                workspace=workspace,
                contact_id=e.contact_id,
                purpose="marketing",
                status="active",
                last_event_id=e.pk,
                was_active=True,
                changed_at=moment,
            )
            for e in events
        ),
        batch_size=2_000,
    )
    return ids


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    workspace = Workspace.objects.create(name="Bench", slug=f"bench-{new_id()}", created_at=now())
    started = time.perf_counter()
    ids = seed(workspace, count)
    seeded = time.perf_counter() - started
    if connection.vendor == "postgresql":  # what autovacuum would do after a bulk load
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE consent_consentstate")

    timings: list[float] = []
    allowed = 0
    for n in range(SINGLE_ROUNDS):
        contact_id = ids[n % len(ids)]
        t0 = time.perf_counter()
        decision = check_consent(workspace.pk, contact_id, "marketing", window_open=False)
        timings.append(time.perf_counter() - t0)
        allowed += decision.allowed
    timings.sort()

    t0 = time.perf_counter()
    batch = check_consent_many(workspace.pk, ids, "marketing")
    batch_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    for contact_id in ids:
        check_consent(workspace.pk, contact_id, "marketing", window_open=False)
    one_by_one_seconds = time.perf_counter() - t0

    result = {
        "bench": "consent_gate",
        "database": connection.vendor,
        "contacts": count,
        "seed_seconds": round(seeded, 2),
        "single_median_ms": round(statistics.median(timings) * 1e3, 4),
        "single_p99_ms": round(timings[int(len(timings) * 0.99)] * 1e3, 4),
        "single_allowed_share": round(allowed / SINGLE_ROUNDS, 3),
        "batch_checks": len(batch),
        "batch_seconds": round(batch_seconds, 3),
        "batch_allowed": sum(d.allowed for d in batch.values()),
        "one_by_one_seconds": round(one_by_one_seconds, 2),
        "targets": {"single_ms": 0.2, "batch_100k_seconds": 20},
        "ok": statistics.median(timings) * 1e3 <= 0.2 and batch_seconds <= 20 * count / 100_000,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
