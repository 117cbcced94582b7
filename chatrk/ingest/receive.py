"""The webhook hot path: find the channel by its URL key, check the signature, store the body once.

One INSERT per accepted POST and nothing else: the channel (with its decrypted app secret and verify
token) is cached in-process for ``CHANNEL_CACHE_SECONDS``; the workspace key is cached by the keyring.
A cached secret that fails to verify is reloaded (at most every ``RELOAD_AFTER_SECONDS`` per key), so a
rotated app secret takes effect at once while forged requests cannot turn into a query each.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from chatrk.audit.actions import ANONYMOUS, Origin, record
from chatrk.audit.models import Outcome
from chatrk.core.clock import now
from chatrk.core.ids import new_id
from chatrk.crypto import envelope
from chatrk.crypto.envelope import Binding
from chatrk.crypto.fields import open_for_system
from chatrk.crypto.keyring import active_key
from chatrk.crypto.models import KeyKind
from chatrk.inbox.models import Channel
from chatrk.whatsapp.signature import verify_signature, verify_subscription

MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta's ceiling (REFERENCE §3)
CHANNEL_CACHE_SECONDS = 60.0
RELOAD_AFTER_SECONDS = 5.0
_MAX_CACHED = 10_000


@dataclass(frozen=True, slots=True)
class ChannelKeys:
    channel_id: int
    workspace_id: int
    app_secret: bytes
    verify_token: str
    loaded_at: float


_cache: dict[str, ChannelKeys | float] = {}  # webhook key -> keys, or the time an unknown key was looked up
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every cached channel (tests; after a channel's credentials change in this process)."""
    with _cache_lock:
        _cache.clear()


def _load(webhook_key: str) -> ChannelKeys | None:
    channel = Channel.objects.filter(webhook_key=webhook_key).first()
    moment = time.monotonic()
    if channel is None:
        with _cache_lock:
            if len(_cache) >= _MAX_CACHED:
                _cache.clear()
            _cache[webhook_key] = moment
        return None
    keys = ChannelKeys(
        channel_id=channel.pk,
        workspace_id=channel.workspace_id,
        app_secret=(open_for_system(channel, "app_secret") or "").encode(),
        verify_token=open_for_system(channel, "verify_token") or "",
        loaded_at=moment,
    )
    with _cache_lock:
        if len(_cache) >= _MAX_CACHED:
            _cache.clear()
        _cache[webhook_key] = keys
    return keys


def channel_keys(webhook_key: str, *, fresh: bool = False) -> ChannelKeys | None:
    """The channel behind a webhook key, from the cache unless stale (or ``fresh`` and old enough)."""
    cached = _cache.get(webhook_key)
    moment = time.monotonic()
    if isinstance(cached, ChannelKeys):
        age = moment - cached.loaded_at
        if age < CHANNEL_CACHE_SECONDS and not (fresh and age >= RELOAD_AFTER_SECONDS):
            return cached
    elif cached is not None and moment - cached < RELOAD_AFTER_SECONDS:
        return None
    return _load(webhook_key)


def verified_channel(webhook_key: str, body: bytes, signature: str | None) -> ChannelKeys | None:
    """The channel whose app secret signed ``body``, or ``None`` (unknown key or bad signature)."""
    keys = channel_keys(webhook_key)
    if keys is not None and verify_signature(keys.app_secret, body, signature):
        return keys
    if keys is not None:
        reloaded = channel_keys(webhook_key, fresh=True)  # the secret may have been rotated
        rotated = reloaded is not None and reloaded is not keys
        if rotated and reloaded is not None and verify_signature(reloaded.app_secret, body, signature):
            return reloaded
    count_signature_failure(keys.channel_id if keys else None, keys.workspace_id if keys else None)
    return None


def handshake(webhook_key: str, params: dict[str, str]) -> str | None:
    """Meta's GET verification: the challenge to echo, or ``None``."""
    keys = channel_keys(webhook_key)
    if keys is None:
        return None
    return verify_subscription(params, keys.verify_token)


def store(keys: ChannelKeys, body: bytes) -> None:
    """Durably stores the body before returning; a byte-identical redelivery inserts nothing.

    The body is encrypted here, in the request's thread, straight into a row tuple (no model instance:
    this is the hot path). With group commit (the default outside a transaction) the rows of concurrent
    requests share one INSERT, made by one of them (``GroupWriter``); each request still returns only
    after its row is stored.
    """
    event = _Slot(keys, body)
    if GROUP_COMMIT and not connection.in_atomic_block:
        _writer.submit(event)
    else:
        _store_rows([event])


_TABLE, _BODY_COLUMN = "ingest_rawevent", "body"  # RawEvent's; the binding must match the model's
_COLUMNS = "(id, workspace_id, channel_id, dedup_key, body, received_at, attempts, reason)"
_VALUES = "(%s, %s, %s, %s, %s, %s, 0, '')"


@cache
def _insert_sql(rows: int) -> str:
    values = ", ".join([_VALUES] * rows)
    conflict = "ON CONFLICT (channel_id, dedup_key) DO NOTHING"
    return f"INSERT INTO ingest_rawevent {_COLUMNS} VALUES {values} {conflict}"  # noqa: S608 (no input in it)


type _Row = tuple[int, int, int, bytes, bytes, datetime | str | None]  # received_at as the backend takes it


def _row(keys: ChannelKeys, body: bytes) -> _Row:
    """The INSERT parameters of one event, sealed exactly as ``RawEvent.body`` would seal it."""
    event_id = new_id()
    key = active_key(keys.workspace_id, KeyKind.WORKSPACE)
    sealed = envelope.encrypt(body, key, Binding(keys.workspace_id, _TABLE, _BODY_COLUMN, event_id))
    received_at = connection.ops.adapt_datetimefield_value(now())
    digest = hashlib.sha256(body).digest()
    return (event_id, keys.workspace_id, keys.channel_id, digest, bytes(sealed), received_at)


def _insert(rows: list[_Row]) -> None:
    """One statement for the whole group: atomic on its own, so no BEGIN and COMMIT round trips in
    autocommit mode. Redeliveries hit the unique key."""
    padded = rows + rows[-1:] * (_shape(len(rows)) - len(rows))
    db = connections[DEFAULT_DB_ALIAS]  # looked up once: each use of the proxy looks it up again
    with _writers_of_other_processes_wait(db), db.cursor() as cursor:
        cursor.execute(_insert_sql(len(padded)), [value for row in padded for value in row])


def _store_rows(slots: list[_Slot]) -> None:
    """Inserts the slots' rows. Ids from two processes can meet in one millisecond (``core.ids``:
    about once in 250,000 busy milliseconds with two web workers); the primary key then refuses the
    whole statement (a redelivery never does: the unique key skips it), so the rows are sealed again
    under new ids and inserted once more rather than failing every request of the group."""
    try:
        _insert_in_savepoint([slot.row for slot in slots])
    except IntegrityError:
        for slot in slots:
            slot.row = _row(slot.keys, slot.body)
        _insert_in_savepoint([slot.row for slot in slots])


def _insert_in_savepoint(rows: list[_Row]) -> None:
    """In autocommit mode the statement is atomic on its own; inside a transaction (tests, callers'
    atomic blocks) a savepoint lets a refused statement be tried again."""
    if not connection.in_atomic_block:
        _insert(rows)
        return
    with transaction.atomic():
        _insert(rows)


def _shape(rows: int) -> int:
    """Groups are padded to a power of two with copies of their last row, which the unique key skips:
    a statement per group size would fill each connection's statement cache with large statements
    (about 50 MB a connection on SQLite), where ten shapes are prepared once."""
    return 1 << (rows - 1).bit_length()


@contextlib.contextmanager
def _writers_of_other_processes_wait(db: BaseDatabaseWrapper) -> Iterator[None]:
    """On SQLite, the group writers of all web processes take turns through a file lock.

    SQLite's own busy handler polls, sleeping 1, 2, 5, 10 ms and more between tries: two processes'
    writers meeting on its write lock would leave the database idle while the loser sleeps. A waiter on
    ``flock`` is woken the moment the lock is released, and meanwhile its next group grows. Inside a
    transaction the turn would end before SQLite's lock does (and could wait on this very transaction),
    so the statement is left to SQLite there.
    """
    if db.vendor != "sqlite" or db.in_atomic_block:
        yield
        return
    with _this_process_in_turn:  # flock does not exclude threads sharing one open file
        descriptor = _lock_file(os.getpid(), str(db.settings_dict["NAME"]))
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)


_this_process_in_turn = threading.Lock()


@cache
def _lock_file(process: int, database: str) -> int:
    """The lock file, opened once per process (a forked worker opens its own) and database."""
    return os.open(f"{database}.ingest-lock", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


GROUP_COMMIT = os.environ.get("CHATRK_INGEST_GROUP_COMMIT", "1") == "1"
MAX_GROUP = 512  # a power of two: see _shape
# SQLite has one write lock: a second writer would only wait on it. PostgreSQL overlaps two statements.
WRITERS = int(os.environ.get("CHATRK_INGEST_WRITERS", "0"))  # 0: 1 on SQLite, 2 on PostgreSQL
WRITE_TIMEOUT_SECONDS = 10.0


class _Slot:
    __slots__ = ("body", "error", "keys", "leads", "row", "wake", "written")

    def __init__(self, keys: ChannelKeys, body: bytes) -> None:
        self.keys, self.body = keys, body
        self.row = _row(keys, body)  # sealed in the request's own thread
        self.wake = threading.Event()  # set once the row is written, or to make this request lead
        self.written = False
        self.leads = False
        self.error: BaseException | None = None


class GroupWriter:
    """Rows of concurrent requests share one INSERT, written by one of those requests.

    A request that finds fewer than ``writers`` groups being written leads: it writes every row waiting
    at that moment, its own included, wakes their requests, and hands the lead to the oldest row still
    waiting (or gives it up). No thread of its own, so an idle process pays no hand-over, and a busy
    one one wake-up per group. With two writers (PostgreSQL) one group gathers while the other is sent.
    """

    def __init__(self, writers: int = WRITERS) -> None:
        self._lock = threading.Lock()
        self._pending: list[_Slot] = []
        self._leading = 0
        self._writers = writers

    def submit(self, slot: _Slot) -> None:
        with self._lock:
            self._pending.append(slot)
            if not self._writers:
                self._writers = 1 if connection.vendor == "sqlite" else 2
            slot.leads = self._leading < self._writers
            self._leading += slot.leads
        self._until_written(slot)

    def _until_written(self, slot: _Slot) -> None:
        """Waits for the row to be written, leading whenever the lead is handed to this request."""
        while True:
            if slot.leads:  # handed the lead: taken up even if the other writer has written this row since
                slot.leads = False
                self._write_group()
            if slot.written:
                break
            if not slot.wake.wait(WRITE_TIMEOUT_SECONDS):
                raise TimeoutError("webhook event was not stored in time")
            slot.wake.clear()  # the flags above are read again after this
        if slot.error is not None:
            raise slot.error

    def _write_group(self) -> None:
        with self._lock:
            group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
        error: BaseException | None = None
        try:
            if group:  # another writer may have taken them all
                _store_rows(group)
        except BaseException as exc:
            error = exc
        for slot in group:
            slot.error, slot.written = error, True
            slot.wake.set()
        with self._lock:
            successor = next((slot for slot in self._pending if not slot.leads), None)
            if successor is None:
                self._leading -= 1
            else:
                successor.leads = True
                successor.wake.set()


_writer = GroupWriter()


# --- signature failures, counted for monitoring ------------------------------------------------------

FAILURE_REPORT_SECONDS = 60.0


@dataclass(slots=True)
class _FailureCount:
    pending: int = 0
    total: int = 0
    reported_at: float = float("-inf")


_failures: dict[int | None, _FailureCount] = {}
_failures_lock = threading.Lock()


def count_signature_failure(channel_id: int | None, workspace_id: int | None) -> None:
    """Counts in memory; writes at most one audit event per channel per minute per process.

    The event carries how many failures this process saw since its previous report, so a flood of
    forged requests costs one row a minute, not one row each.
    """
    moment = time.monotonic()
    with _failures_lock:
        count = _failures.setdefault(channel_id, _FailureCount())
        count.pending += 1
        count.total += 1
        if moment - count.reported_at < FAILURE_REPORT_SECONDS:
            return
        failures, count.pending, count.reported_at = count.pending, 0, moment
    with transaction.atomic():
        record(
            "webhook.signature_failed",
            actor=ANONYMOUS,
            workspace_id=workspace_id,
            target=("channel", channel_id) if channel_id is not None else None,
            outcome=Outcome.DENIED,
            origin=Origin(),
            details={"failures": failures, "unknown_key": channel_id is None},
        )


def signature_failures() -> dict[int | None, int]:
    """Failures seen by this process since it started, per channel (``None``: unknown webhook key)."""
    with _failures_lock:
        return {channel_id: count.total for channel_id, count in _failures.items()}


def reset_signature_failures() -> None:
    with _failures_lock:
        _failures.clear()
