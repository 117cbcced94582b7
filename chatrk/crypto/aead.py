"""The two AES-256-GCM calls everything else is built on; nonces are random and never chosen by callers."""

from __future__ import annotations

import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chatrk.crypto.errors import DecryptionFailed

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def seal_bytes(key: bytes | AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    """``nonce || ciphertext || tag``; 96-bit random nonces are safe for far more than 2^32 values per key.
    ``key`` is the key or a context made from it (a cached key keeps one: making it cost ~1 µs a call)."""
    nonce = random_nonce()
    return nonce + _context(key).encrypt(nonce, plaintext, aad)


def open_bytes(key: bytes | AESGCM, blob: bytes, aad: bytes, *, what: str) -> bytes:
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionFailed(f"{what}: ciphertext is truncated")
    try:
        return _context(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionFailed(f"{what}: authentication failed") from None


def _context(key: bytes | AESGCM) -> AESGCM:
    return key if isinstance(key, AESGCM) else AESGCM(key)


_NONCES_PER_READ = 256
_nonces = threading.local()


def random_nonce() -> bytes:
    """12 bytes of ``os.urandom``, read 256 nonces at a time.

    Each read is a system call that lets another thread take the GIL; in a busy web process that cost
    more than the encryption. The bytes are the same CSPRNG output, each used once: the pool is per
    thread, and a forked child (another process id) throws away the copy it inherited, which would
    repeat its parent's nonces.
    """
    pool: bytes = getattr(_nonces, "pool", b"")
    if len(pool) < NONCE_BYTES or _nonces.owner != os.getpid():
        pool, _nonces.owner = os.urandom(NONCE_BYTES * _NONCES_PER_READ), os.getpid()
    _nonces.pool = pool[NONCE_BYTES:]
    return pool[:NONCE_BYTES]
