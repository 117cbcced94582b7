"""Row ids assigned by the application before INSERT.

Encrypted fields bind each ciphertext to its row id (AAD), so the id must exist before the row is
written. Models with encrypted fields therefore declare::

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)

``new_id`` is 63 bits and time-ordered (like a Snowflake id): 41 bits of milliseconds since
2024-01-01 UTC (good until 2093) and 22 bits that start at a random value every millisecond and
count up within a process. Ids from one process are strictly increasing; ids from different
processes collide only if two random 21-bit starts meet in the same millisecond and their counts
overlap, and the primary key then refuses the second INSERT (fail closed, never a silent overwrite).
Busy paths recover: the webhook's store seals its rows again under new ids (``ingest.receive``),
and the drainer applies a refused batch event by event, with new ids.
"""

from __future__ import annotations

import secrets
import threading
import time

_EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
_SEQUENCE_BITS = 22
_lock = threading.Lock()
_last_issued = 0


def new_id() -> int:
    global _last_issued
    millis = time.time_ns() // 1_000_000 - _EPOCH_MS
    candidate = 0
    if millis > _last_issued >> _SEQUENCE_BITS:  # a new millisecond (read again under the lock below)
        # Start in the lower half of the sequence space so a busy millisecond has room to count up.
        # Drawn once a millisecond, not per id: the system call lets other threads take the GIL,
        # which on the webhook path cost more than the rest of the id.
        candidate = (millis << _SEQUENCE_BITS) | secrets.randbits(_SEQUENCE_BITS - 1)
    with _lock:
        # max() keeps ids increasing even if the wall clock steps back.
        _last_issued = max(candidate, _last_issued + 1)
        return _last_issued
