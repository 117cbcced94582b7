"""Streaming, chunked AEAD for media (up to 100 MB) without holding a file in memory.

The construction is STREAM (Hoang, Reyhanitabar, Rogaway, Vizar 2015) over AES-256-GCM:

* header ``0x11 | key id (8) | salt (16)``; a per-file key is HKDF(data key, salt, binding), so the
  deterministic chunk nonces below are never reused under one key;
* chunk ``i`` of 64 KiB is sealed with nonce ``i (11 bytes) | last flag (1 byte)`` and the header as AAD.

Reordering changes ``i``; dropping the tail leaves a chunk without the last flag; appending makes
the real last chunk non-final; editing the header changes the AAD. Each of these fails authentication.
Plaintext chunks are yielded as they are verified, so a consumer must discard what it wrote if the
stream later fails (``decrypt_stream`` callers delete the partial output).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chatrk.crypto.aead import TAG_BYTES
from chatrk.crypto.envelope import check_key_scope
from chatrk.crypto.errors import CryptoError, DecryptionFailed, FileTooLarge, UnknownFormat
from chatrk.crypto.keyring import LoadedKey, active_key, load_key
from chatrk.crypto.models import KeyKind

FORMAT_FILE_V1 = 0x11
CHUNK_BYTES = 64 * 1024
MAX_FILE_BYTES = 100 * 1024 * 1024
_HEADER = struct.Struct(">BQ16s")


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True, slots=True)
class FileBinding:
    """Where a file belongs. Files always sit under a subject key (e.g. "contact:12"): subject keys are
    rewrapped by workspace-key rotation, so files never need re-encrypting. Media that belong to no
    person can use a workspace-wide subject such as "workspace-media:<workspace id>"."""

    workspace_id: int
    subject: str
    purpose: str  # e.g. "inbox.media"
    file_id: int

    def __post_init__(self) -> None:
        if not self.subject:
            raise CryptoError("a file needs a subject key")

    def info(self) -> bytes:
        return f"chatrk-file/1|{self.workspace_id}|{self.subject}|{self.purpose}|{self.file_id}".encode()

    def describe(self) -> str:
        return f"{self.purpose} file {self.file_id}"


def encrypt_stream(source: Readable, sink: Writable, *, binding: FileBinding) -> int:
    """Encrypts ``source`` into ``sink``; returns the plaintext size. Over 100 MB raises FileTooLarge."""
    key = _active_key(binding)
    salt = os.urandom(16)
    header = _HEADER.pack(FORMAT_FILE_V1, key.id, salt)
    aead = AESGCM(_file_key(key, salt, binding))
    sink.write(header)
    total, index = 0, 0
    current = _read_full(source, CHUNK_BYTES)
    while True:
        following = _read_full(source, CHUNK_BYTES) if len(current) == CHUNK_BYTES else b""
        total += len(current)
        if total > MAX_FILE_BYTES:
            raise FileTooLarge(f"{binding.describe()} exceeds {MAX_FILE_BYTES} bytes")
        last = not following
        sink.write(aead.encrypt(_nonce(index, last=last), current, header))
        if last:
            return total
        current, index = following, index + 1


def decrypt_chunks(source: Readable, *, binding: FileBinding) -> Iterator[bytes]:
    header = _read_full(source, _HEADER.size)
    if len(header) < _HEADER.size:
        raise DecryptionFailed(f"{binding.describe()}: header is truncated")
    version, key_id, salt = _HEADER.unpack(header)
    if version != FORMAT_FILE_V1:
        raise UnknownFormat(f"file format {version} is unknown")
    key = load_key(key_id)
    check_key_scope(key, binding.workspace_id, binding.subject, what=binding.describe())
    aead = AESGCM(_file_key(key, salt, binding))
    sealed_chunk = CHUNK_BYTES + TAG_BYTES
    current, index = _read_full(source, sealed_chunk), 0
    while True:
        following = _read_full(source, sealed_chunk) if len(current) == sealed_chunk else b""
        last = not following
        try:
            yield aead.decrypt(_nonce(index, last=last), current, header)
        except InvalidTag:
            raise DecryptionFailed(
                f"{binding.describe()}: chunk {index} failed authentication (altered, reordered or truncated)"
            ) from None
        if last:
            return
        current, index = following, index + 1


def decrypt_stream(source: Readable, sink: Writable, *, binding: FileBinding) -> int:
    total = 0
    for chunk in decrypt_chunks(source, binding=binding):
        sink.write(chunk)
        total += len(chunk)
    return total


def _active_key(binding: FileBinding) -> LoadedKey:
    return active_key(binding.workspace_id, KeyKind.SUBJECT, binding.subject)


def _file_key(key: LoadedKey, salt: bytes, binding: FileBinding) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=binding.info()).derive(key.material)


def _nonce(index: int, *, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _read_full(source: Readable, size: int) -> bytes:
    """Reads exactly ``size`` bytes unless the stream ends first (sockets and pipes return short reads)."""
    parts: list[bytes] = []
    wanted = size
    while wanted:
        part = source.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)
