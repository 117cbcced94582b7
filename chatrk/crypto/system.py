"""Sealing of system secrets (TOTP seeds, the audit checkpoint signing key, tokens of connected numbers).

``seal``/``unseal`` are the interface other apps use. Secrets are sealed under the SYSTEM data key,
which the KEK provider wraps, so rotating the KEK rewraps one key and every sealed secret stays valid.

Format: ``0x02 | system key id (8 bytes) | nonce (12) | ciphertext | tag``; the AAD is the header and
``context``, so a secret sealed for one purpose cannot be unsealed for another.
"""

from __future__ import annotations

import struct

from chatrk.crypto.aead import open_bytes, seal_bytes
from chatrk.crypto.errors import DecryptionFailed, UnknownFormat
from chatrk.crypto.keyring import active_key, load_key
from chatrk.crypto.models import KeyKind

_FORMAT = 0x02
_HEADER = struct.Struct(">BQ")


def seal(plaintext: bytes, *, context: str) -> bytes:
    key = active_key(None, KeyKind.SYSTEM)
    header = _HEADER.pack(_FORMAT, key.id)
    return header + seal_bytes(key.cipher, plaintext, _aad(header, context))


def unseal(blob: bytes, *, context: str) -> bytes:
    if len(blob) < _HEADER.size:
        raise DecryptionFailed("sealed secret is truncated")
    version, key_id = _HEADER.unpack_from(blob)
    if version != _FORMAT:
        raise UnknownFormat(f"sealed-secret format {version} is unknown")
    key = load_key(key_id)
    if key.kind != KeyKind.SYSTEM:
        raise DecryptionFailed("sealed secret names a key that is not the system key")
    header = blob[: _HEADER.size]
    return open_bytes(key.cipher, blob[_HEADER.size :], _aad(header, context), what="sealed secret")


def _aad(header: bytes, context: str) -> bytes:
    return header + b"|" + context.encode()
