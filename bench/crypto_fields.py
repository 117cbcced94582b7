"""Bench: encrypt + decrypt of a 200-byte message body through the field layer.

Measures ``pre_save`` encryption (what ``save()`` runs) and ``from_db_value`` + ``open_for_system``
decryption on a warm key cache, per value; then the same through a real INSERT and SELECT.
Last line: one JSON object.
"""

from __future__ import annotations

import json
import statistics
import time

from _django import setup

setup()

from chatrk.core.clock import now  # noqa: E402
from chatrk.core.ids import new_id  # noqa: E402
from chatrk.core.models import Workspace  # noqa: E402
from chatrk.crypto.fields import EncryptedField, open_for_system  # noqa: E402
from chatrk.crypto.tests.models import Note, Person  # noqa: E402

BODY = ("Hello! Your order #48213 has shipped and will arrive on Thursday. Reply STOP to opt out. " * 3)[:200]
ROUNDS = 20_000
DB_ROUNDS = 2_000


def micro(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_us": round(statistics.median(ordered) * 1e6, 2),
        "p99_us": round(ordered[int(len(ordered) * 0.99)] * 1e6, 2),
    }


def main() -> None:
    workspace = Workspace.objects.create(name="Bench", slug=f"bench-{new_id()}", created_at=now())
    person = Person(workspace=workspace, phone="+447700900123")
    person.save()
    field = Note._meta.get_field("body")
    assert isinstance(field, EncryptedField)
    encrypt_times, decrypt_times, both = [], [], []
    for _ in range(ROUNDS):
        note = Note(workspace=workspace, person=person, body=BODY)
        t0 = time.perf_counter()
        stored = field.pre_save(note, add=True)
        t1 = time.perf_counter()
        note.body = field.from_db_value(bytes(stored), None, None)  # type: ignore[arg-type]
        assert open_for_system(note, "body") == BODY
        t2 = time.perf_counter()
        encrypt_times.append(t1 - t0)
        decrypt_times.append(t2 - t1)
        both.append(t2 - t0)
    db_times = []
    for _ in range(DB_ROUNDS):
        t0 = time.perf_counter()
        note = Note(workspace=workspace, person=person, body=BODY)
        note.save()
        assert open_for_system(Note.objects.get(pk=note.pk), "body") == BODY
        db_times.append(time.perf_counter() - t0)
    from django.db import connection

    result = {
        "bench": "crypto_fields",
        "database": connection.vendor,
        "value_bytes": len(BODY.encode()),
        "rounds": ROUNDS,
        "encrypt": micro(encrypt_times),
        "decrypt": micro(decrypt_times),
        "encrypt_plus_decrypt": micro(both),
        "insert_select_decrypt": micro(db_times),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
