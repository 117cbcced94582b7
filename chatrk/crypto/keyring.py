"""Loading, unwrapping and caching data keys. Only this module and ``actions`` touch key material.

Unwrapped keys are cached per process for ``CRYPTO_KEY_CACHE_SECONDS`` (a KMS round trip per value
would be far too slow). The price: another process may keep using a key for up to that long after
it was destroyed; rotation waits that long before its final sweep for the same reason.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, connection, models, transaction

from chatrk.core.bulk import insert_rows
from chatrk.core.clock import now
from chatrk.crypto import ledger
from chatrk.crypto.aead import new_key, open_bytes, seal_bytes
from chatrk.crypto.errors import CryptoError, KeyDestroyed, KeyUnavailable, SubjectErased, SubjectShredded
from chatrk.crypto.models import DataKey, KeyKind, KeyState
from chatrk.crypto.providers import get_provider


@dataclass(frozen=True, slots=True)
class LoadedKey:
    id: int
    workspace_id: int | None
    kind: str
    subject: str
    version: int
    material: bytes = field(repr=False)
    cipher: AESGCM = field(init=False, repr=False, compare=False)  # made once, used for every value

    def __post_init__(self) -> None:
        object.__setattr__(self, "cipher", AESGCM(self.material))


type Slot = tuple[int | None, str, str]  # (workspace id, kind, subject)

_lock = threading.Lock()
_material: dict[int, tuple[float, LoadedKey]] = {}
_active: dict[Slot, tuple[float, int]] = {}


class _Uncommitted(threading.local):
    """Keys this thread created inside a transaction that has not committed yet.

    Caching one process-wide would let a later transaction encrypt under a key whose row was rolled
    back, leaving data nobody can ever read; so each stays here, valid only while its on-commit hook is
    still queued on the connection (Django drops the hook on rollback, and on rollback to a savepoint
    taken before the key was made), and moves to the process-wide cache when that hook runs.
    """

    def __init__(self) -> None:
        self.keys: dict[Slot, tuple[int, int, Callable[[], None]]] = {}  # slot -> (id, hook index, hook)


_uncommitted = _Uncommitted()


def clear_cache() -> None:
    with _lock:
        _material.clear()
        _active.clear()
    _uncommitted.keys.clear()


def forget(key_id: int) -> None:
    with _lock:
        _material.pop(key_id, None)
        for slot, (_, cached_id) in list(_active.items()):
            if cached_id == key_id:
                del _active[slot]
    for slot, (pending_id, _, _) in list(_uncommitted.keys.items()):
        if pending_id == key_id:
            del _uncommitted.keys[slot]


def wrap_context(row: DataKey) -> str:
    """Binds a wrapped key to its own row, so wrapped keys cannot be swapped between rows."""
    return f"chatrk-datakey/1|{row.pk}|{row.workspace_id or 0}|{row.kind}|{row.subject}|{row.version}"


def load_key(key_id: int) -> LoadedKey:
    """The key a ciphertext names; fails loudly if it was retired, shredded or never existed."""
    if ledger.is_erased(key_id):
        raise SubjectShredded(f"data key {key_id} was crypto-shredded")
    cached = _cache_get(_material, key_id)
    if cached is not None:
        return cached
    try:
        row = DataKey.objects.get(pk=key_id)
    except DataKey.DoesNotExist:
        raise KeyUnavailable(f"data key {key_id} does not exist") from None
    return _remember(row)


def preload(key_ids: set[int]) -> None:
    """Loads the uncached keys among ``key_ids`` in one query, so a page of rows under many subjects'
    keys costs one query rather than one per subject. Keys that cannot be loaded are left for
    ``load_key`` to report when a value under them is opened."""
    erased = ledger.erased_ids()
    missing = [key_id for key_id in key_ids if key_id not in erased and _cache_get(_material, key_id) is None]
    if not missing:
        return
    rows = DataKey.objects.filter(pk__in=missing).exclude(state=KeyState.DESTROYED).select_related("parent")
    for row in rows:
        with contextlib.suppress(CryptoError):
            if row.parent is not None and _cache_get(_material, row.parent.pk) is None:
                _remember(row.parent)
            _remember(row)


def _remember(row: DataKey) -> LoadedKey:
    if row.state == KeyState.DESTROYED and row.kind == KeyKind.SUBJECT:
        raise SubjectShredded(f"subject key {row.pk} was crypto-shredded")
    if row.state == KeyState.DESTROYED:
        raise KeyDestroyed(f"{row.kind} key {row.pk} v{row.version} is destroyed")
    return _cache_material(row, unwrap(row))


def _cache_material(row: DataKey, material: bytes) -> LoadedKey:
    loaded = LoadedKey(row.pk, row.workspace_id, row.kind, row.subject, row.version, material)
    with _lock:
        _material[row.pk] = (time.monotonic() + settings.CRYPTO_KEY_CACHE_SECONDS, loaded)
    return loaded


def unwrap(row: DataKey) -> bytes:
    blob = bytes(row.wrapped)
    if row.parent_id is None:
        return get_provider().unwrap(row.kek_id, blob, context=wrap_context(row))
    parent = load_key(row.parent_id)
    return open_bytes(parent.cipher, blob, wrap_context(row).encode(), what=f"data key {row.pk}")


def wrap_into(row: DataKey, material: bytes, parent: LoadedKey | None) -> None:
    """Sets ``row``'s wrapping: under the KEK's primary version, or under ``parent``."""
    if parent is None:
        row.parent_id, row.kek_id = None, ""
        row.kek_id, row.wrapped = get_provider().wrap(material, context=wrap_context(row))
    else:
        row.parent_id, row.kek_id = parent.id, ""
        row.wrapped = seal_bytes(parent.cipher, material, wrap_context(row).encode())


def active_key(workspace_id: int | None, kind: str, subject: str = "") -> LoadedKey:
    """The key new data of this workspace/subject is encrypted under, created on first use."""
    slot = (workspace_id, kind, subject)
    cached_id = _cache_get(_active, slot) or _uncommitted_key(slot)
    if cached_id is not None:
        return load_key(cached_id)
    row = _active_row(workspace_id, kind, subject) or _create_first(workspace_id, kind, subject)
    loaded = load_key(row.pk)
    if _uncommitted_key(slot) != row.pk:
        _cache_active(slot, row.pk)
    return loaded


def preload_active(workspace_id: int, kind: str, subjects: Iterable[str]) -> None:
    """Caches the active keys of many subjects in one query (the contacts of a drain batch), so that
    encrypting under each costs no query of its own. Keys cached for less than half their time are
    read again with the others, so they do not expire one by one (a query each) while the batch is
    applied. Subjects without an active key are left to ``active_key`` or ``create_subject_keys``."""
    fresh_until = time.monotonic() + settings.CRYPTO_KEY_CACHE_SECONDS / 2
    with _lock:
        cached = {subject: _active.get((workspace_id, kind, subject)) for subject in set(subjects)}
    missing = [
        subject
        for subject, hit in cached.items()
        if (hit is None or hit[0] < fresh_until) and _uncommitted_key((workspace_id, kind, subject)) is None
    ]
    if not missing:
        return
    for row in _keys_of_many(workspace_id, kind, missing).filter(state=KeyState.ACTIVE):
        with contextlib.suppress(CryptoError):  # reported by the value that needs it, as load_key does
            if not ledger.is_erased(row.pk):
                _remember(row)
                _cache_active((workspace_id, kind, row.subject), row.pk)


def create_subject_keys(workspace_id: int, subjects: Collection[str]) -> None:
    """First keys for many new subjects (the new contacts of a drain batch): one INSERT for all, wrapped
    under the workspace key; each is cached for the open transaction as ``active_key`` would cache it.
    Refuses (SubjectErased) if any subject's key was destroyed: an erased person stays erased."""
    if not subjects:
        return
    if _keys_of_many(workspace_id, KeyKind.SUBJECT, subjects).filter(state=KeyState.DESTROYED).exists():
        raise SubjectErased(f"a subject key in workspace {workspace_id} was destroyed")
    parent = active_key(workspace_id, KeyKind.WORKSPACE)
    made = [(subject, new_key()) for subject in subjects]
    rows = [
        new_key_row(workspace_id, KeyKind.SUBJECT, subject, version=1, parent=parent, material=material)
        for subject, material in made
    ]
    insert_rows(DataKey, rows)
    for row, (_, material) in zip(rows, made, strict=True):
        _cache_material(row, material)
        if connection.in_atomic_block:
            _hold_until_commit((workspace_id, KeyKind.SUBJECT, row.subject), row.pk)
        else:
            _cache_active((workspace_id, KeyKind.SUBJECT, row.subject), row.pk)


def _cache_active(slot: Slot, key_id: int) -> None:
    with _lock:
        _active[slot] = (time.monotonic() + settings.CRYPTO_KEY_CACHE_SECONDS, key_id)


def _hold_until_commit(slot: Slot, key_id: int) -> None:
    """Caches a key made in the open transaction for that transaction only, process-wide once committed."""

    def committed() -> None:
        _uncommitted.keys.pop(slot, None)
        _cache_active(slot, key_id)

    transaction.on_commit(committed)
    _uncommitted.keys[slot] = (key_id, len(connection.run_on_commit) - 1, committed)


def _uncommitted_key(slot: Slot) -> int | None:
    """The key this thread's open transaction created for ``slot``, if that creation still stands."""
    entry = _uncommitted.keys.get(slot)
    if entry is None:
        return None
    key_id, index, hook = entry
    hooks = connection.run_on_commit
    if index < len(hooks) and hooks[index][1] is hook:
        return key_id
    # Django filters the list on a savepoint rollback; search rather than trust a stale index.
    moved = next((at for at, queued in enumerate(hooks) if queued[1] is hook), None)
    if moved is None:
        del _uncommitted.keys[slot]  # rolled back: the database will say whether to make another
        return None
    _uncommitted.keys[slot] = (key_id, moved, hook)
    return key_id


def _active_row(workspace_id: int | None, kind: str, subject: str) -> DataKey | None:
    return _keys_of(workspace_id, kind, subject).filter(state=KeyState.ACTIVE).first()


def _keys_of(workspace_id: int | None, kind: str, subject: str) -> models.QuerySet[DataKey]:
    rows = DataKey.objects.filter(kind=kind, subject=subject)
    if workspace_id is None:
        return rows.filter(workspace__isnull=True)  # "= NULL" matches nothing in SQL
    return rows.filter(workspace_id=workspace_id)


def _keys_of_many(workspace_id: int, kind: str, subjects: Collection[str]) -> models.QuerySet[DataKey]:
    return DataKey.objects.filter(workspace_id=workspace_id, kind=kind, subject__in=list(subjects))


def _create_first(workspace_id: int | None, kind: str, subject: str) -> DataKey:
    if kind == KeyKind.SUBJECT:
        if _keys_of(workspace_id, kind, subject).filter(state=KeyState.DESTROYED).exists():
            raise SubjectErased(f"the key of {subject} in workspace {workspace_id} was destroyed")
        parent: LoadedKey | None = active_key(workspace_id, KeyKind.WORKSPACE)
    else:
        parent = None
    material = new_key()
    row = new_key_row(workspace_id, kind, subject, version=1, parent=parent, material=material)
    try:
        with transaction.atomic():
            row.save(force_insert=True)
            if kind != KeyKind.SUBJECT:
                _audit_creation(row)  # subject keys are too many to audit one by one
    except IntegrityError:
        # Another worker created it first; use theirs.
        existing = _active_row(workspace_id, kind, subject)
        if existing is None:
            raise
        return existing
    _cache_material(row, material)  # no need to read back and unwrap what was just made
    if connection.in_atomic_block:  # the caller's transaction may still roll the new key back
        _hold_until_commit((workspace_id, kind, subject), row.pk)
    return row


def new_key_row(
    workspace_id: int | None,
    kind: str,
    subject: str,
    *,
    version: int,
    parent: LoadedKey | None,
    material: bytes | None = None,
) -> DataKey:
    stamp = now()
    row = DataKey(
        workspace_id=workspace_id, kind=kind, subject=subject, version=version, state=KeyState.ACTIVE,
        created_at=stamp, state_changed_at=stamp,
    )  # fmt: skip
    wrap_into(row, material or new_key(), parent)
    return row


def _audit_creation(row: DataKey) -> None:
    from chatrk.audit.actions import SYSTEM, record

    details: dict[str, str | int] = {"kind": row.kind, "version": row.version, "kek": row.kek_id}
    record(
        "crypto.key.generate",
        actor=SYSTEM,
        workspace_id=row.workspace_id,
        target=("datakey", row.pk),
        details=details,
    )


def _cache_get[K, V](cache: dict[K, tuple[float, V]], slot: K) -> V | None:
    with _lock:
        hit = cache.get(slot)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del cache[slot]
            return None
        return hit[1]
