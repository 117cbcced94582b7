"""The sequencer: turns committed events into leaves of the Merkle tree, in one batch at a time.

``record`` only INSERTs (no lock, so audited transactions never wait for each other). After commit,
the sequencer takes the log's lock — ``pg_advisory_xact_lock`` on PostgreSQL; on SQLite every
transaction is ``BEGIN IMMEDIATE`` and already holds the single write lock — reads the committed
events that have no ``seq`` yet in arrival order, and gives them the next leaf indexes with their
leaf hashes. Therefore:

* ``seq`` is the leaf index: gap-free and dense, whatever the number of concurrent writers;
* a rolled-back transaction's event was never visible, so it never takes a ``seq``;
* the lock is held only for one short batch, never across anyone's business transaction.

It runs after an event's commit (at most every ``SEQUENCE_INTERVAL`` per process, so bursts share a
batch), before every checkpoint, and from the periodic task, so an event waits at most one task
period to enter the tree (like a transparency log's merge delay). Web requests leave it to that task
(``left_to_worker``, set by ``chatrk.audit.middleware``): a page never waits for the log's lock, a
batch or a checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from chatrk.audit.entries import ENTRY_COLUMNS, row_leaf_hash
from chatrk.audit.models import AuditEvent

# pg_advisory_xact_lock key of the audit log ("chatrk" in ASCII, then 1).
SEQUENCER_LOCK_KEY = 0x63686174726B_01
BATCH_SIZE = 5_000
# A process sequences after its own commits at most this often (seconds); bursts share one batch.
SEQUENCE_INTERVAL = 0.05


class _Throttle:
    last_run = 0.0


_throttle = _Throttle()

_left_to_worker: ContextVar[bool] = ContextVar("chatrk_audit_sequencing_left_to_worker", default=False)


def is_left_to_worker() -> bool:
    return _left_to_worker.get()


@contextmanager
def left_to_worker() -> Iterator[None]:
    """Within this block, commits do not sequence: the worker's periodic task (every minute,
    ``settings.PERIODIC_TASKS``) does, and publishes the checkpoints that fall due meanwhile."""
    token = _left_to_worker.set(True)
    try:
        yield
    finally:
        _left_to_worker.reset(token)


def sequenced_size() -> int:
    """Leaves in the tree: events seq 0..n-1 (always dense, see above)."""
    last = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", flat=True).first()
    return 0 if last is None else last + 1


def sequence_pending() -> int:
    """Give every committed, unsequenced event its leaf index and hash; returns how many."""
    total = 0
    while True:
        done, _ = _sequence_batch()
        total += done
        if done < BATCH_SIZE:
            return total


def sequence_soon() -> bool:
    """After-commit hook of ``record``: sequence unless this process did so a moment ago."""
    started = time.monotonic()
    if started - _throttle.last_run < SEQUENCE_INTERVAL:
        return False
    _throttle.last_run = started
    while True:
        done, size = _sequence_batch()
        every = settings.AUDIT_CHECKPOINT_EVERY
        if done and size // every > (size - done) // every:
            return True  # a checkpoint is due; it sequences whatever is left first
        if done < BATCH_SIZE:
            return False


def _sequence_batch() -> tuple[int, int]:
    """Sequence up to BATCH_SIZE events; returns how many, and the tree size after them."""
    connection = connections[router.db_for_write(AuditEvent)]
    with transaction.atomic(using=connection.alias):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCER_LOCK_KEY])
        next_seq = sequenced_size()
        content = ENTRY_COLUMNS[1:]  # every entry column but seq, which is being assigned
        pending = AuditEvent.objects.filter(seq__isnull=True).order_by("id").values_list("id", *content)
        updates = []
        for event_id, *values in pending[:BATCH_SIZE]:
            updates.append((next_seq, row_leaf_hash((next_seq, *values)), event_id))
            next_seq += 1
        if updates:
            _store(connection, updates)
    return len(updates), next_seq


def _store(connection: BaseDatabaseWrapper, updates: list[tuple[int, bytes, int]]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":  # SQLite runs in-process: one statement per row is cheap
            cursor.executemany("UPDATE audit_auditevent SET seq = %s, leaf_hash = %s WHERE id = %s", updates)
            return
        # One UPDATE … FROM (VALUES …) for the batch: per-row statements cost more than the hashing.
        rows = ", ".join(["(%s::bigint, %s::bytea, %s::bigint)"] * len(updates))
        cursor.execute(
            "UPDATE audit_auditevent SET seq = batch.seq, leaf_hash = batch.leaf_hash "  # noqa: S608
            f"FROM (VALUES {rows}) AS batch (seq, leaf_hash, id) WHERE audit_auditevent.id = batch.id",
            [value for update in updates for value in update],
        )
