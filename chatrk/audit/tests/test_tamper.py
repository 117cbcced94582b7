"""Tampering with the raw database — guards dropped — is caught by ``verify``.

Each case edits, deletes, inserts, reorders or truncates events behind the application's back. The
"rehashed" variants play an attacker who also recomputes every stored leaf hash, so only the signed
checkpoints can catch them. The log: checkpoints signed at sizes 8 and 16, then 4 unsigned events.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection

from chatrk.audit.checkpoints import Checkpoint, publish_checkpoint, read_exported_notes, sign_note
from chatrk.audit.entries import ENTRY_COLUMNS, row_leaf_hash
from chatrk.audit.guard import remove_guards
from chatrk.audit.merkle import root_hash
from chatrk.audit.models import AuditEvent
from chatrk.audit.tests.conftest import write_events
from chatrk.audit.verify import VerificationError, verify_log

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def signed_log() -> None:
    write_events(8)
    publish_checkpoint()
    write_events(8)
    publish_checkpoint()
    write_events(4)
    # The test's transaction rolls this back, so the guards are back for the next test.
    remove_guards(connection)


def _sql(statement: str, params: Sequence[str | int | bytes] = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _move(old_seq: int, new_seq: int) -> None:
    _sql("UPDATE audit_auditevent SET seq = %s WHERE seq = %s", [new_seq, old_seq])


def _rehash_every_leaf() -> None:
    for row in AuditEvent.objects.order_by("seq").values_list(*ENTRY_COLUMNS):
        _sql("UPDATE audit_auditevent SET leaf_hash = %s WHERE seq = %s", [row_leaf_hash(row), row[0]])


def _fails_at(seq: int, message: str) -> None:
    with pytest.raises(VerificationError, match=message) as caught:
        verify_log()
    assert caught.value.seq == seq


def test_the_untouched_log_verifies() -> None:
    report = verify_log()
    assert (report.tree_size, report.checkpoints_checked, report.latest_checkpoint_size) == (20, 2, 16)


def test_edited_event_is_named() -> None:
    _sql("UPDATE audit_auditevent SET outcome = 'denied' WHERE seq = 3")
    _fails_at(3, "seq 3 does not match its leaf hash")


def test_edited_event_in_the_unsigned_tail_is_named() -> None:
    _sql("UPDATE audit_auditevent SET workspace_id = 99 WHERE seq = 18")
    _fails_at(18, "seq 18 does not match its leaf hash")


def test_event_edited_into_a_non_canonical_form_is_named() -> None:
    _sql("UPDATE audit_auditevent SET details = %s WHERE seq = 6", ['{"attempt": 1.5}'])
    _fails_at(6, "seq 6 no longer has a canonical form")


def test_edited_and_rehashed_event_breaks_the_signed_checkpoint() -> None:
    _sql("UPDATE audit_auditevent SET actor_id = '999' WHERE seq = 10")
    _rehash_every_leaf()
    _fails_at(8, "do not match the checkpoint signed at size 16: an event from seq 8 on")


def test_deleted_event_is_named() -> None:
    _sql("DELETE FROM audit_auditevent WHERE seq = 5")
    _fails_at(5, "seq 5 is missing")


def test_deleted_then_renumbered_and_rehashed_breaks_the_checkpoint() -> None:
    _sql("DELETE FROM audit_auditevent WHERE seq = 5")
    for seq in range(6, 20):
        _move(seq, seq - 1)
    _rehash_every_leaf()
    _fails_at(0, "checkpoint signed at size 8")


def test_inserted_event_in_the_middle_breaks_the_checkpoint() -> None:
    for seq in reversed(range(4, 20)):
        _move(seq, seq + 1)
    _sql(
        "INSERT INTO audit_auditevent (seq, occurred_at, workspace_id, actor_kind, actor_id, action, "
        "target_kind, target_id, outcome, reason, ip_hmac, user_agent_hmac, details, leaf_hash) "
        "SELECT 4, occurred_at, workspace_id, actor_kind, '42', 'authz_change', target_kind, target_id, "
        "outcome, reason, ip_hmac, user_agent_hmac, details, leaf_hash FROM audit_auditevent WHERE seq = 3"
    )
    _rehash_every_leaf()
    _fails_at(0, "checkpoint signed at size 8")


def test_event_inserted_past_the_end_leaves_a_gap() -> None:
    _sql(
        "INSERT INTO audit_auditevent (seq, occurred_at, workspace_id, actor_kind, actor_id, action, "
        "target_kind, target_id, outcome, reason, ip_hmac, user_agent_hmac, details, leaf_hash) "
        "SELECT 100, occurred_at, workspace_id, actor_kind, actor_id, action, target_kind, target_id, "
        "outcome, reason, ip_hmac, user_agent_hmac, details, leaf_hash FROM audit_auditevent WHERE seq = 0"
    )
    _fails_at(20, "seq 20 is missing")


@pytest.mark.parametrize(
    ("rehash", "seq", "message"),
    [(False, 2, "seq 2 does not match its leaf hash"), (True, 0, "checkpoint signed at size 8")],
)
def test_reordered_events_are_caught(rehash: bool, seq: int, message: str) -> None:
    _move(2, -1)
    _move(6, 2)
    _move(-1, 6)
    if rehash:
        _rehash_every_leaf()
    _fails_at(seq, message)


def test_truncated_log_is_caught() -> None:
    _sql("DELETE FROM audit_auditevent WHERE seq >= 12")
    _fails_at(12, "the log ends at seq 11 but a signed checkpoint covers 16 events: the log was truncated")


def test_truncation_hidden_in_the_database_is_caught_by_the_exported_checkpoints(
    checkpoint_sink: Path,
) -> None:
    _sql("DELETE FROM audit_auditevent WHERE seq >= 12")
    _sql("DELETE FROM audit_auditcheckpoint WHERE tree_size = 16")
    verify_log()  # the database alone now looks like a consistent log of 12 events…
    with pytest.raises(VerificationError, match="truncated") as caught:
        verify_log(exported_notes=read_exported_notes(checkpoint_sink))  # …the sink remembers 16
    assert caught.value.seq == 12


def test_rewritten_history_under_an_exported_checkpoint_is_a_split_view(checkpoint_sink: Path) -> None:
    _sql("DELETE FROM audit_auditcheckpoint")
    _sql("UPDATE audit_auditevent SET actor_id = '0' WHERE seq = 1")
    _rehash_every_leaf()
    publish_checkpoint()  # the application signs the rewritten log at size 20…
    with pytest.raises(VerificationError, match="size 8"):
        verify_log(exported_notes=read_exported_notes(checkpoint_sink))  # …but size 8 was exported before


def test_a_checkpoint_re_signed_with_a_key_the_provider_never_sealed_is_rejected() -> None:
    _sql("UPDATE audit_auditevent SET actor_id = '999' WHERE seq = 10")
    _rehash_every_leaf()
    leaves = AuditEvent.objects.order_by("seq").values_list("leaf_hash", flat=True)[:16]
    forged_root = root_hash(bytes(leaf or b"") for leaf in leaves)
    origin = "test.chatrk.example/audit"
    forged = sign_note(Checkpoint(origin, 16, forged_root), origin, Ed25519PrivateKey.generate())
    _sql(
        "UPDATE audit_auditcheckpoint SET note = %s, root_hash = %s WHERE tree_size = 16",
        [forged, forged_root],
    )
    with pytest.raises(VerificationError, match="no valid signature"):
        verify_log()


def test_stored_checkpoint_columns_must_match_the_signed_note() -> None:
    _sql("UPDATE audit_auditcheckpoint SET root_hash = %s WHERE tree_size = 8", [b"\x00" * 32])
    with pytest.raises(VerificationError, match="differs from its signed note"):
        verify_log()
