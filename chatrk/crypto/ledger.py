"""The erasure ledger: ids of crypto-shredded keys, kept outside the database beside the KEK.

Destroying a subject key wipes its wrapped bytes from the database, but a database backup taken
before the erasure still holds them, wrapped under keys that are still alive. The ledger closes that
gap: the keyring refuses any key id listed here, so restoring an old backup cannot bring erased data
back. Lines are ``<key id> <UTC time>``; ids only, nothing personal.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from chatrk.core.clock import now

_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], frozenset[int]]] = {}


class _Pinned(threading.local):
    """The ledger as this thread read it at the start of a ``read_once`` block: (location, ids)."""

    def __init__(self) -> None:
        self.read: tuple[str, frozenset[int]] | None = None


_pinned = _Pinned()


def _path() -> Path:
    return Path(settings.CRYPTO_ERASURE_LEDGER)


def record_erasure(key_id: int) -> None:
    """Appends and fsyncs before the database commits, so a crash errs towards unreadable (fail closed)."""
    path = _path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        handle.write(f"{key_id} {now().isoformat()}\n")
        handle.flush()
        os.fsync(handle.fileno())
    if _pinned.read is not None and _pinned.read[0] == os.fspath(path):
        _pinned.read = (_pinned.read[0], _pinned.read[1] | {key_id})  # this thread sees its own at once


@contextmanager
def read_once() -> Iterator[None]:
    """Within the block this thread stats the ledger once instead of on every key use (a drain batch
    used about four keys per event, each a stat). An erasure recorded meanwhile by another process is
    seen from the next block on; one recorded by this thread, at once."""
    if _pinned.read is not None:  # nested: the outer block's reading stands
        yield
        return
    location = os.fspath(settings.CRYPTO_ERASURE_LEDGER)
    _pinned.read = (location, _erased_ids())
    try:
        yield
    finally:
        _pinned.read = None


def is_erased(key_id: int) -> bool:
    return key_id in erased_ids()


def erased_ids() -> frozenset[int]:
    pinned = _pinned.read
    if pinned is not None and pinned[0] == os.fspath(settings.CRYPTO_ERASURE_LEDGER):
        return pinned[1]
    return _erased_ids()


def _erased_ids() -> frozenset[int]:
    # Checked on every key use outside read_once, so the file is stat()ed each time; a plain string
    # path, because building a pathlib.Path cost more than the stat itself.
    location = os.fspath(settings.CRYPTO_ERASURE_LEDGER)
    try:
        info = os.stat(location)
    except FileNotFoundError:
        return frozenset()
    signature = (info.st_mtime_ns, info.st_size)
    with _lock:
        cached = _cache.get(location)
        if cached and cached[0] == signature:
            return cached[1]
        text = Path(location).read_text()
        ids = frozenset(int(line.split()[0]) for line in text.splitlines() if line.strip())
        _cache[location] = (signature, ids)
        return ids
