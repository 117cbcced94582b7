"""Streaming file AEAD: round trips at chunk edges, flat memory at 100 MB, and chunk-level attacks."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest

from chatrk.core.models import Workspace
from chatrk.crypto.errors import CryptoError, DecryptionFailed, FileTooLarge, UnknownFormat
from chatrk.crypto.files import CHUNK_BYTES, MAX_FILE_BYTES, FileBinding, decrypt_stream, encrypt_stream

pytestmark = pytest.mark.django_db
SEALED_CHUNK = CHUNK_BYTES + 16
HEADER = 25


class Zeros(io.RawIOBase):
    """A readable stream of ``size`` bytes that never exists in memory at once."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        count = self.left if size < 0 else min(size, self.left)
        self.left -= count
        return bytes(count)


class Discard(io.RawIOBase):
    def __init__(self) -> None:
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        size = len(data)  # type: ignore[arg-type]
        self.count += size
        return size


def binding(workspace: Workspace, file_id: int = 1, subject: str = "person:1") -> FileBinding:
    return FileBinding(workspace.pk, subject, "inbox.media", file_id)


def encrypt(data: bytes, where: FileBinding) -> bytes:
    sink = io.BytesIO()
    encrypt_stream(io.BytesIO(data), sink, binding=where)
    return sink.getvalue()


def decrypt(blob: bytes, where: FileBinding) -> bytes:
    sink = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), sink, binding=where)
    return sink.getvalue()


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 7])
def test_round_trip_at_chunk_edges(workspace: Workspace, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    blob = encrypt(data, binding(workspace))
    assert decrypt(blob, binding(workspace)) == data
    chunks = max(1, -(-size // CHUNK_BYTES))  # a file that fills its last chunk exactly adds none
    assert len(blob) == HEADER + size + 16 * chunks


def test_no_plaintext_in_the_ciphertext(workspace: Workspace) -> None:
    data = b"passport scan " * 10_000
    assert b"passport" not in encrypt(data, binding(workspace))


def _three_chunks(workspace: Workspace) -> tuple[bytes, list[bytes]]:
    blob = encrypt(b"a" * CHUNK_BYTES + b"b" * CHUNK_BYTES + b"c" * 100, binding(workspace))
    body = blob[HEADER:]
    chunks = [body[i : i + SEALED_CHUNK] for i in range(0, len(body), SEALED_CHUNK)]
    assert len(chunks) == 3
    return blob[:HEADER], chunks


def test_truncation_at_a_chunk_boundary_fails(workspace: Workspace) -> None:
    header, chunks = _three_chunks(workspace)
    with pytest.raises(DecryptionFailed, match="chunk 1"):
        decrypt(header + chunks[0] + chunks[1], binding(workspace))


def test_truncation_inside_a_chunk_fails(workspace: Workspace) -> None:
    header, chunks = _three_chunks(workspace)
    with pytest.raises(DecryptionFailed):
        decrypt(header + chunks[0] + chunks[1] + chunks[2][:50], binding(workspace))


def test_dropping_every_chunk_fails(workspace: Workspace) -> None:
    header, _ = _three_chunks(workspace)
    with pytest.raises(DecryptionFailed):
        decrypt(header, binding(workspace))
    with pytest.raises(DecryptionFailed):
        decrypt(header[:10], binding(workspace))


def test_reordered_chunks_fail(workspace: Workspace) -> None:
    header, chunks = _three_chunks(workspace)
    with pytest.raises(DecryptionFailed, match="chunk 0"):
        decrypt(header + chunks[1] + chunks[0] + chunks[2], binding(workspace))


def test_appended_chunk_fails(workspace: Workspace) -> None:
    header, chunks = _three_chunks(workspace)
    with pytest.raises(DecryptionFailed):
        decrypt(header + chunks[0] + chunks[1] + chunks[2] + chunks[2], binding(workspace))


def test_chunk_from_another_file_fails(workspace: Workspace) -> None:
    header, chunks = _three_chunks(workspace)
    _, others = _three_chunks(workspace)
    with pytest.raises(DecryptionFailed):
        decrypt(header + others[0] + chunks[1] + chunks[2], binding(workspace))


@pytest.mark.parametrize("offset", [3, 12, HEADER + 5, -1])
def test_flipped_bit_in_header_or_body_fails(workspace: Workspace, offset: int) -> None:
    blob = bytearray(encrypt(b"x" * 1000, binding(workspace)))
    blob[offset] ^= 0x40
    with pytest.raises(CryptoError):
        decrypt(bytes(blob), binding(workspace))


def test_unknown_format_fails(workspace: Workspace) -> None:
    blob = encrypt(b"x", binding(workspace))
    with pytest.raises(UnknownFormat):
        decrypt(b"\x12" + blob[1:], binding(workspace))


def test_file_presented_as_another_file_or_subject_fails(workspace: Workspace) -> None:
    blob = encrypt(b"x" * 100, binding(workspace, file_id=1))
    with pytest.raises(DecryptionFailed):
        decrypt(blob, binding(workspace, file_id=2))
    with pytest.raises(DecryptionFailed, match="another subject"):
        decrypt(blob, binding(workspace, subject="person:2"))


def test_file_of_another_workspace_fails(workspace: Workspace, other_workspace: Workspace) -> None:
    blob = encrypt(b"x" * 100, binding(workspace))
    with pytest.raises(DecryptionFailed, match="another workspace"):
        decrypt(blob, binding(other_workspace))


def test_files_need_a_subject(workspace: Workspace) -> None:
    with pytest.raises(CryptoError):
        FileBinding(workspace.pk, "", "inbox.media", 1)


def test_100_mb_streams_through_in_flat_memory(workspace: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "media.bin"
    tracemalloc.start()
    try:
        with target.open("wb") as sink:
            assert encrypt_stream(Zeros(MAX_FILE_BYTES), sink, binding=binding(workspace)) == MAX_FILE_BYTES
        encrypt_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        discard = Discard()
        with target.open("rb") as source:
            decrypt_stream(source, discard, binding=binding(workspace))
        decrypt_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert discard.count == MAX_FILE_BYTES
    assert encrypt_peak < 2 * 1024 * 1024
    assert decrypt_peak < 2 * 1024 * 1024


def test_over_100_mb_is_refused(workspace: Workspace) -> None:
    with pytest.raises(FileTooLarge):
        encrypt_stream(Zeros(MAX_FILE_BYTES + 1), Discard(), binding=binding(workspace))
