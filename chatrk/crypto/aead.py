"""The two AES-256-GCM calls everything else is built on; nonces are random and never chosen by callers."""

from __future__ import annotations

import os

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
    nonce = os.urandom(NONCE_BYTES)
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
