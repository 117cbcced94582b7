"""Signed checkpoints: the C2SP note, the sealed key, the sink, and when they are published."""

from __future__ import annotations

import base64
import json
import syslog
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings

from chatrk.audit import checkpoints
from chatrk.audit.actions import SYSTEM, record
from chatrk.audit.checkpoints import Checkpoint, CheckpointError, LogIntegrityError, VerifierKey
from chatrk.audit.guard import remove_guards
from chatrk.audit.merkle import root_hash
from chatrk.audit.models import AuditCheckpoint, AuditEvent, AuditSigningKey
from chatrk.audit.tasks import publish_checkpoint_if_due
from chatrk.audit.tests.conftest import write_events
from chatrk.core.clock import now
from chatrk.crypto.system import unseal

pytestmark = pytest.mark.django_db
ORIGIN = "test.chatrk.example/audit"


def test_note_is_a_c2sp_checkpoint_signed_by_the_verifier_key() -> None:
    write_events(3)
    published = checkpoints.publish_checkpoint()
    assert published is not None
    leaves = AuditEvent.objects.order_by("seq").values_list("leaf_hash", flat=True)
    root = root_hash(bytes(leaf or b"") for leaf in leaves)
    body, signatures = published.note.split("\n\n")
    assert body.split("\n") == [ORIGIN, "3", base64.b64encode(root).decode()]
    dash, name, signature = signatures.rstrip("\n").split(" ")
    key = checkpoints.verifier_key()
    assert (dash, name) == ("—", ORIGIN)
    assert base64.b64decode(signature)[:4] == key.key_hash
    assert checkpoints.open_note(published.note, [key]) == Checkpoint(ORIGIN, 3, root)


def test_a_note_with_a_changed_body_or_an_unknown_key_does_not_open() -> None:
    write_events(2)
    published = checkpoints.publish_checkpoint()
    assert published is not None
    key = checkpoints.verifier_key()
    with pytest.raises(CheckpointError):
        checkpoints.open_note(published.note.replace("\n2\n", "\n3\n", 1), [key])
    stranger = Ed25519PrivateKey.generate()
    forged = checkpoints.sign_note(Checkpoint(ORIGIN, 2, b"\x00" * 32), ORIGIN, stranger)
    with pytest.raises(CheckpointError):
        checkpoints.open_note(forged, [key])


def test_verifier_key_round_trips_and_rejects_a_wrong_hash() -> None:
    key = checkpoints.verifier_key()
    assert VerifierKey.parse(str(key)) == key
    name, key_hash, encoded = str(key).split("+", 2)
    wrong = f"{name}+{'0' * 8 if key_hash != '0' * 8 else '1' * 8}+{encoded}"
    with pytest.raises(CheckpointError):
        VerifierKey.parse(wrong)


@pytest.mark.usefixtures("real_key_provider")
def test_signing_key_is_generated_once_and_stored_sealed_by_the_key_provider() -> None:
    first = checkpoints.verifier_key()
    assert checkpoints.verifier_key() == first
    stored = AuditSigningKey.objects.get()
    raw = unseal(bytes(stored.sealed_private_key), context=checkpoints.SEAL_CONTEXT)
    assert raw not in bytes(stored.sealed_private_key)
    assert Ed25519PrivateKey.from_private_bytes(raw).public_key().public_bytes_raw() == first.public_key
    with pytest.raises(Exception):  # noqa: B017, PT011 - AES-GCM refuses another context, whatever the error
        unseal(bytes(stored.sealed_private_key), context="something-else")


def test_published_checkpoints_are_appended_to_the_file_sink(checkpoint_sink: Path) -> None:
    write_events(2)
    checkpoints.publish_checkpoint()
    assert checkpoints.publish_checkpoint() is None  # nothing new: no second checkpoint
    write_events(3)
    checkpoints.publish_checkpoint()
    lines = [json.loads(line) for line in checkpoint_sink.read_text().splitlines()]
    assert [line["tree_size"] for line in lines] == [2, 5]
    assert [line["note"] for line in lines] == list(
        AuditCheckpoint.objects.order_by("tree_size").values_list("note", flat=True)
    )
    assert checkpoint_sink.stat().st_mode & 0o777 == 0o600


def test_sink_failure_stores_no_checkpoint(tmp_path: Path) -> None:
    write_events(2)
    with override_settings(AUDIT_SINK=f"file:{tmp_path}"), pytest.raises(IsADirectoryError):
        checkpoints.publish_checkpoint()
    assert not AuditCheckpoint.objects.exists()


def test_syslog_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    monkeypatch.setattr(syslog, "syslog", lambda _priority, message: sent.append(message))
    write_events(1)
    with override_settings(AUDIT_SINK="syslog"):
        published = checkpoints.publish_checkpoint()
    assert published is not None
    assert [json.loads(message)["note"] for message in sent] == [published.note]


@override_settings(AUDIT_CHECKPOINT_EVERY=5, AUDIT_CHECKPOINT_MINUTES=10)
def test_publish_if_due_after_n_events_or_m_minutes() -> None:
    assert checkpoints.publish_if_due() is None  # an empty log has nothing to sign
    write_events(1)
    assert checkpoints.publish_if_due() is not None  # the first checkpoint is always due
    write_events(2)
    assert checkpoints.publish_if_due() is None
    with time_machine.travel(now() + timedelta(minutes=11)):
        due_by_time = checkpoints.publish_if_due()
    assert due_by_time is not None
    assert due_by_time.tree_size == 3
    write_events(5)
    due_by_count = checkpoints.publish_if_due()
    assert due_by_count is not None
    assert due_by_count.tree_size == 8


def test_a_checkpoint_extends_the_previous_one_to_the_same_root_as_from_scratch() -> None:
    write_events(5)
    checkpoints.publish_checkpoint()
    write_events(6)
    published = checkpoints.publish_checkpoint()
    assert published is not None
    leaves = AuditEvent.objects.order_by("seq").values_list("leaf_hash", flat=True)
    assert bytes(published.root_hash) == root_hash(bytes(leaf or b"") for leaf in leaves)


def test_no_checkpoint_is_signed_over_an_edited_event() -> None:
    write_events(3)
    remove_guards(connection)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'x' WHERE seq = 1")
    with pytest.raises(LogIntegrityError, match="seq 1"):
        checkpoints.publish_checkpoint()


@pytest.mark.parametrize("origin", ["", "has space/audit", "a+b/audit"])
def test_origins_that_cannot_be_a_signed_note_key_name_are_refused(origin: str) -> None:
    with override_settings(AUDIT_LOG_ORIGIN=origin), pytest.raises(ImproperlyConfigured):
        checkpoints.key_name()


@override_settings(AUDIT_CHECKPOINT_EVERY=1000)
def test_the_periodic_task_sequences_and_publishes_when_due() -> None:
    assert publish_checkpoint_if_due.call() is None
    for _ in range(3):
        record("authn_login_success", actor=SYSTEM)  # pending: no after-commit hook in this test
    assert publish_checkpoint_if_due.call() == 3  # the first checkpoint is due at once
    assert publish_checkpoint_if_due.call() is None
