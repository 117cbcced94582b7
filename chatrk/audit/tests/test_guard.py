"""The audit tables refuse UPDATE, DELETE (and TRUNCATE on PostgreSQL) at the database.

The one UPDATE allowed is the sequencer's: setting an event's seq and leaf_hash, once, from empty."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.backends.utils import CursorWrapper

from chatrk.audit.actions import SYSTEM, record
from chatrk.audit.checkpoints import publish_checkpoint
from chatrk.audit.guard import install_guards, missing_guards, remove_guards
from chatrk.audit.models import AuditCheckpoint, AuditEvent
from chatrk.audit.sequencer import sequence_pending
from chatrk.audit.tests.conftest import write_events

pytestmark = pytest.mark.django_db


def _refused(sql: str) -> None:
    with connection.cursor() as cursor, pytest.raises(DatabaseError, match="append-only"):
        _execute_in_savepoint(cursor, sql)


def _execute_in_savepoint(cursor: CursorWrapper, sql: str) -> None:
    with transaction.atomic():
        cursor.execute(sql)


def test_events_cannot_be_updated_or_deleted() -> None:
    write_events(3)
    _refused("UPDATE audit_auditevent SET action = 'nothing' WHERE seq = 1")
    _refused("DELETE FROM audit_auditevent WHERE seq = 2")
    _refused("DELETE FROM audit_auditevent")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=0).update(reason="hidden")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.count() == 3
    assert AuditEvent.objects.get(seq=1).action != "nothing"


def test_checkpoints_and_keys_cannot_be_updated_or_deleted() -> None:
    write_events(2)
    publish_checkpoint()
    _refused("UPDATE audit_auditcheckpoint SET note = 'forged'")
    _refused("DELETE FROM audit_auditcheckpoint")
    _refused("DELETE FROM audit_auditsigningkey")
    assert AuditCheckpoint.objects.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no TRUNCATE")
def test_truncate_is_refused_on_postgresql() -> None:
    write_events(1)
    _refused("TRUNCATE audit_auditevent")
    _refused("TRUNCATE audit_auditcheckpoint")


def test_seq_and_leaf_hash_are_set_once_and_only_alone() -> None:
    write_events(1)
    record("authn_login_fail", actor=SYSTEM)  # pending: seq and leaf_hash still empty
    _refused("UPDATE audit_auditevent SET seq = 5 WHERE seq = 0")
    _refused("UPDATE audit_auditevent SET leaf_hash = NULL, seq = NULL WHERE seq = 0")
    # Sequencing the pending event while also changing what it says is refused…
    _refused(
        "UPDATE audit_auditevent SET seq = 1, action = 'x', "
        "leaf_hash = (SELECT leaf_hash FROM audit_auditevent WHERE seq = 0) WHERE seq IS NULL"
    )
    # …and so is setting only one of the two.
    _refused("UPDATE audit_auditevent SET seq = 1 WHERE seq IS NULL")
    assert sequence_pending() == 1  # the sequencer's own update is the one that passes
    _refused("UPDATE audit_auditevent SET seq = 7 WHERE seq = 1")


def test_guards_can_be_reinstalled_and_their_absence_is_reported() -> None:
    assert missing_guards(connection) == []
    install_guards(connection)  # idempotent: a second install changes nothing
    remove_guards(connection)
    event_delete_guards = {"audit_auditevent_append_only", "audit_auditevent_no_delete"}  # PostgreSQL, SQLite
    assert event_delete_guards & set(missing_guards(connection))
    install_guards(connection)
    assert missing_guards(connection) == []
