"""Signed checkpoints of the audit log, in the C2SP tlog-checkpoint signed-note format.

A checkpoint is the note body ``<origin>\\n<tree size>\\n<base64 root hash>\\n`` followed by a blank
line and one signature line ``— <key name> <base64(4-byte key hash ‖ Ed25519 signature)>``
(https://github.com/C2SP/C2SP/blob/main/tlog-checkpoint.md and signed-note.md). The Ed25519 key is
generated once and stored sealed under the key-encryption key (``chatrk.crypto.system.seal``), so
the database alone can neither sign nor swap the key. Each checkpoint is written to the
``AuditCheckpoint`` table and to the sink (``CHATRK_AUDIT_SINK``) outside the database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import syslog
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connections, router, transaction

from chatrk.audit.entries import ENTRY_COLUMNS, row_leaf_hash, utc_timestamp
from chatrk.audit.merkle import HASH_SIZE, Frontier
from chatrk.audit.models import SUBTREE_MIN_LEVEL, AuditCheckpoint, AuditEvent, AuditSigningKey, AuditSubtree
from chatrk.audit.sequencer import sequence_pending, sequenced_size
from chatrk.core.clock import now
from chatrk.crypto.system import seal, unseal

SEAL_CONTEXT = "audit-checkpoint-key"
ED25519_ALGORITHM = b"\x01"  # the signed-note signature type of Ed25519
# pg_advisory_xact_lock key that serialises checkpoint publishers ("chatrk" in ASCII, then 2).
CHECKPOINT_LOCK_KEY = 0x63686174726B_02


class CheckpointError(ValueError):
    """A checkpoint note is malformed, unsigned by a known key, or its signature is wrong."""


class LogIntegrityError(RuntimeError):
    """The stored log contradicts itself; no checkpoint is signed over it."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root_hash).decode()}\n"


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A public checkpoint key in the signed-note verifier-key form ``name+hash+base64(0x01‖key)``."""

    name: str
    public_key: bytes

    @property
    def key_hash(self) -> bytes:
        return hashlib.sha256(self.name.encode() + b"\n" + ED25519_ALGORITHM + self.public_key).digest()[:4]

    def __str__(self) -> str:
        encoded = base64.b64encode(ED25519_ALGORITHM + self.public_key).decode()
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        try:
            name, key_hash, encoded = text.strip().split("+", 2)  # names hold no "+"; base64 may
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise CheckpointError("a verifier key reads name+hash+base64key") from None
        if raw[:1] != ED25519_ALGORITHM or len(raw) != 33:
            raise CheckpointError("the verifier key is not an Ed25519 key")
        key = cls(name, raw[1:])
        if key.key_hash.hex() != key_hash:
            raise CheckpointError("the verifier key's hash does not match its name and key")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def sign_note(checkpoint: Checkpoint, key_name: str, private_key: Ed25519PrivateKey) -> str:
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    body = checkpoint.body()
    signature = VerifierKey(key_name, public).key_hash + private_key.sign(body.encode())
    return f"{body}\n— {key_name} {base64.b64encode(signature).decode()}\n"


def open_note(note: str, verifiers: list[VerifierKey]) -> Checkpoint:
    """The checkpoint a note states, once one of ``verifiers`` has signed it; else CheckpointError."""
    body, separator, signatures = note.partition("\n\n")
    if not separator or not body:
        raise CheckpointError("a signed note has a body, a blank line and signature lines")
    body += "\n"
    if not any(_signed_by(body, line, verifiers) for line in signatures.splitlines()):
        raise CheckpointError("the checkpoint carries no valid signature from a trusted audit key")
    return _parse_body(body)


def _signed_by(body: str, line: str, verifiers: list[VerifierKey]) -> bool:
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != "—":
        return False
    try:
        signature = base64.b64decode(parts[2], validate=True)
    except ValueError:
        return False
    return any(
        key.name == parts[1] and key.key_hash == signature[:4] and key.verify(body.encode(), signature[4:])
        for key in verifiers
    )


def _parse_body(body: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) < 4 or not lines[1].isdigit() or (lines[1] != "0" and lines[1].startswith("0")):
        raise CheckpointError("the note body is not origin, tree size and root hash")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except ValueError:
        raise CheckpointError("the root hash is not base64") from None
    if len(root) != HASH_SIZE:
        raise CheckpointError("the root hash is not 32 bytes")
    return Checkpoint(lines[0], int(lines[1]), root)


# --- the key ------------------------------------------------------------------------------------


def key_name() -> str:
    name = str(settings.AUDIT_LOG_ORIGIN)
    if not name or any(character.isspace() or character == "+" for character in name):
        raise ImproperlyConfigured(
            "CHATRK_AUDIT_ORIGIN must be non-empty, without spaces or '+' (signed-note rule)"
        )
    return name


def signing_key() -> Ed25519PrivateKey:
    """The checkpoint key for this log's origin, generated and sealed on first use."""
    stored = AuditSigningKey.objects.filter(name=key_name()).first()
    if stored is None:
        stored = _create_signing_key()
    raw = unseal(bytes(stored.sealed_private_key), context=SEAL_CONTEXT)
    return Ed25519PrivateKey.from_private_bytes(raw)


def _create_signing_key() -> AuditSigningKey:
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    try:
        with transaction.atomic():
            return AuditSigningKey.objects.create(
                name=key_name(),
                public_key=private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
                sealed_private_key=seal(raw, context=SEAL_CONTEXT),
                created_at=now(),
            )
    except IntegrityError:  # another process created it first: use theirs
        return AuditSigningKey.objects.get(name=key_name())


def trusted_verifiers() -> list[VerifierKey]:
    """Verifier keys of every stored signing key that unseals under the key-encryption key.

    The public half is derived from the unsealed private key, never read from its column, so a row
    forged in the database (without the KEK) is not trusted.
    """
    keys = []
    for stored in AuditSigningKey.objects.order_by("pk"):
        try:
            raw = unseal(bytes(stored.sealed_private_key), context=SEAL_CONTEXT)
        except Exception:  # noqa: S112 - a key that does not unseal is simply not trusted
            continue
        public = Ed25519PrivateKey.from_private_bytes(raw).public_key()
        keys.append(VerifierKey(stored.name, public.public_bytes(Encoding.Raw, PublicFormat.Raw)))
    return keys


def verifier_key() -> VerifierKey:
    """The verifier key an auditor pins (``chatrk audit public-key``)."""
    public = signing_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return VerifierKey(key_name(), public)


# --- publishing ---------------------------------------------------------------------------------


def latest_checkpoint() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-tree_size").first()


def publish_checkpoint() -> AuditCheckpoint | None:
    """Sequence what is pending, sign the tree at its size and export it; None when nothing is new."""
    sequence_pending()
    with transaction.atomic():
        _take_checkpoint_lock()
        previous = latest_checkpoint()
        size = sequenced_size()
        if size == 0 or (previous is not None and previous.tree_size >= size):
            return None
        frontier = Frontier.unpack(previous.tree_size, bytes(previous.frontier)) if previous else Frontier()
        _extend(frontier, size)
        checkpoint = Checkpoint(key_name(), size, frontier.root())
        stored = AuditCheckpoint.objects.create(
            tree_size=size,
            root_hash=checkpoint.root_hash,
            frontier=frontier.pack(),
            note=sign_note(checkpoint, key_name(), signing_key()),
            created_at=now(),
        )
        # Inside the transaction: if the sink refuses, the checkpoint is not stored either, and
        # the next attempt retries both.
        export_checkpoint(stored)
    return stored


def publish_if_due() -> AuditCheckpoint | None:
    """Publish when ``AUDIT_CHECKPOINT_EVERY`` events or ``AUDIT_CHECKPOINT_MINUTES`` have passed."""
    sequence_pending()
    previous = latest_checkpoint()
    size = sequenced_size()
    if previous is None:
        return publish_checkpoint() if size else None
    events_due = size - previous.tree_size >= settings.AUDIT_CHECKPOINT_EVERY
    minutes = timedelta(minutes=settings.AUDIT_CHECKPOINT_MINUTES)
    time_due = size > previous.tree_size and now() - previous.created_at >= minutes
    return publish_checkpoint() if events_due or time_due else None


def _take_checkpoint_lock() -> None:
    connection = connections[router.db_for_write(AuditCheckpoint)]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHECKPOINT_LOCK_KEY])
    # SQLite: the IMMEDIATE transaction already holds the write lock.


def _extend(frontier: Frontier, size: int) -> None:
    """Add events frontier.size..size-1, re-deriving each leaf: never sign a log that lies. The roots
    of the subtrees they complete are stored for proofs."""
    subtrees: list[AuditSubtree] = []
    rows = (
        AuditEvent.objects.filter(seq__gte=frontier.size, seq__lt=size)
        .order_by("seq")
        .values_list(*ENTRY_COLUMNS, "leaf_hash")
    )
    for row in rows.iterator(chunk_size=2000):
        seq, stored = row[0], bytes(row[-1] or b"")
        if seq != frontier.size:
            raise LogIntegrityError(f"seq {frontier.size} is missing; refusing to sign a checkpoint")
        if _rehash(row[:-1]) != stored:
            raise LogIntegrityError(f"seq {seq} does not match its leaf hash; refusing to sign a checkpoint")
        for level, root in enumerate(frontier.append(stored), start=1):
            if level >= SUBTREE_MIN_LEVEL:
                start = frontier.size - (1 << level)
                subtrees.append(AuditSubtree(level=level, start=start, root_hash=root))
    if frontier.size != size:
        raise LogIntegrityError(f"seq {frontier.size} is missing; refusing to sign a checkpoint")
    AuditSubtree.objects.bulk_create(subtrees, batch_size=1_000)


def _rehash(row: tuple[Any, ...]) -> bytes:
    try:
        return row_leaf_hash(row)
    except ValueError:
        raise LogIntegrityError(
            f"seq {row[0]} has no canonical form; refusing to sign a checkpoint"
        ) from None


# --- the sink outside the database --------------------------------------------------------------


def sink_line(checkpoint: AuditCheckpoint) -> str:
    """One JSON line per checkpoint; only ``note`` is trusted by verifiers, the rest is for reading."""
    return json.dumps(
        {
            "tree_size": checkpoint.tree_size,
            "root_hash": bytes(checkpoint.root_hash).hex(),
            "created_at": utc_timestamp(checkpoint.created_at),
            "note": checkpoint.note,
        },
        sort_keys=True,
    )


def export_checkpoint(checkpoint: AuditCheckpoint) -> None:
    sink = str(settings.AUDIT_SINK)
    if sink.startswith("file:"):
        _append_line(Path(sink.removeprefix("file:")), sink_line(checkpoint))
    elif sink == "syslog":
        syslog.openlog("chatrk-audit", syslog.LOG_PID, syslog.LOG_AUTH)
        syslog.syslog(syslog.LOG_NOTICE, sink_line(checkpoint))
    else:
        raise ImproperlyConfigured("CHATRK_AUDIT_SINK must be file:/path or syslog")


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_exported_notes(path: Path) -> list[str]:
    """The notes of a file sink (or of a syslog extract holding the same JSON lines)."""
    notes = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        start = line.find("{")
        if start < 0:
            continue  # syslog prefixes and blank lines
        try:
            notes.append(str(json.loads(line[start:])["note"]))
        except (ValueError, KeyError, TypeError):
            raise CheckpointError(f"{path}:{number} is not an exported checkpoint") from None
    return notes
