"""The ciphertext format of one field value, and the binding (AAD) that pins it to its place.

``0x01 | key id (8 bytes, big-endian) | nonce (12) | ciphertext | tag (16)``

The AAD is the header followed by ``|workspace|table|column|row id``, so a value copied to another row,
column, table or workspace, or with an edited header, fails authentication instead of decrypting.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from chatrk.crypto.aead import open_bytes, seal_bytes
from chatrk.crypto.errors import DecryptionFailed, UnknownFormat
from chatrk.crypto.keyring import LoadedKey, load_key
from chatrk.crypto.models import KeyKind

FORMAT_V1 = 0x01
_HEADER = struct.Struct(">BQ")
HEADER_BYTES = _HEADER.size


class Sealed(bytes):
    """A ciphertext as it sits on a model instance: bytes that never print as anything but their size."""

    def __repr__(self) -> str:
        return f"<sealed {len(self)} bytes>"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Binding:
    workspace_id: int
    table: str
    column: str
    row_id: int

    def aad(self, header: bytes) -> bytes:
        return header + f"|{self.workspace_id}|{self.table}|{self.column}|{self.row_id}".encode()

    def describe(self) -> str:
        return f"{self.table}.{self.column} row {self.row_id}"


def encrypt(plaintext: bytes, key: LoadedKey, binding: Binding) -> Sealed:
    header = _HEADER.pack(FORMAT_V1, key.id)
    return Sealed(header + seal_bytes(key.cipher, plaintext, binding.aad(header)))


def key_id_of(blob: bytes) -> int:
    if len(blob) < HEADER_BYTES:
        raise DecryptionFailed("ciphertext is shorter than its header")
    version, key_id = _HEADER.unpack_from(blob)
    if version != FORMAT_V1:
        raise UnknownFormat(f"ciphertext format {version} is unknown")
    return int(key_id)


def decrypt(blob: bytes, binding: Binding, *, subject: str) -> bytes:
    """``subject`` is the row's subject ("" for workspace-keyed rows): a value must sit under that key."""
    key = load_key(key_id_of(blob))
    check_key_scope(key, binding.workspace_id, subject, what=binding.describe())
    header = blob[:HEADER_BYTES]
    return open_bytes(key.cipher, blob[HEADER_BYTES:], binding.aad(header), what=binding.describe())


def check_key_scope(key: LoadedKey, workspace_id: int, subject: str, *, what: str) -> None:
    """A value must sit under its own workspace's key, and under its own subject's key if it has one."""
    if key.workspace_id != workspace_id:
        raise DecryptionFailed(f"{what}: the key belongs to another workspace")
    expected_kind = KeyKind.SUBJECT if subject else KeyKind.WORKSPACE
    if key.kind != expected_kind or key.subject != subject:
        raise DecryptionFailed(f"{what}: the key belongs to another subject")
