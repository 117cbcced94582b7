"""Sealing of system secrets (TOTP seeds, tokens of connected numbers) under the key-encryption key.

``seal``/``unseal`` are the interface other apps use; the key provider behind them is the crypto app's.
"""

from __future__ import annotations

import os
from functools import cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

_VERSION = b"\x01"


@cache
def _kek() -> bytes:
    path = settings.VAR_DIR / "kek.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(AESGCM.generate_key(bit_length=256))
    return path.read_bytes()


def seal(plaintext: bytes, *, context: str) -> bytes:
    nonce = os.urandom(12)
    return _VERSION + nonce + AESGCM(_kek()).encrypt(nonce, plaintext, context.encode())


def unseal(blob: bytes, *, context: str) -> bytes:
    if blob[:1] != _VERSION:
        raise ValueError("unknown sealed-secret version")
    return AESGCM(_kek()).decrypt(blob[1:13], blob[13:], context.encode())
