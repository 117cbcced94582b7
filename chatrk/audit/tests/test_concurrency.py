"""Concurrent writers on real transactions: seq stays the gap-free leaf index, rollbacks included."""

from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.test import override_settings

from chatrk.audit.actions import SYSTEM, record
from chatrk.audit.models import AuditCheckpoint, AuditEvent
from chatrk.audit.verify import verify_log

WRITERS = 6
EVENTS_PER_WRITER = 25


def _writer(index: int, errors: list[BaseException]) -> None:
    try:
        for number in range(EVENTS_PER_WRITER):
            try:
                with transaction.atomic():
                    record("sensitive_read", actor=SYSTEM, workspace_id=index, details={"n": number})
                    if number % 5 == 4:
                        raise LookupError("roll this one back")
            except LookupError:
                pass
    except BaseException as error:  # reported to the main thread below
        errors.append(error)
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
@override_settings(AUDIT_CHECKPOINT_EVERY=7)
def test_concurrent_appends_have_no_gaps_and_verify() -> None:
    database = connections["default"]  # the wrapper itself, not the proxy
    if isinstance(database, SQLiteWrapper) and database.is_in_memory_db():  # known once the test DB exists
        pytest.skip("an in-memory SQLite test database cannot host concurrent connections")
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_writer, args=(index, errors)) for index in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    committed = WRITERS * EVENTS_PER_WRITER * 4 // 5
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(range(committed))
    assert AuditCheckpoint.objects.exists()  # published from on_commit while others were appending
    assert verify_log().tree_size == committed


@pytest.mark.django_db(transaction=True)
@override_settings(AUDIT_CHECKPOINT_EVERY=2)
def test_committed_events_publish_checkpoints_and_flush_empties_the_guarded_tables() -> None:
    for _ in range(4):
        record("authn_login_success", actor=SYSTEM)  # each in its own transaction
    assert list(AuditCheckpoint.objects.values_list("tree_size", flat=True).order_by("tree_size")) == [2, 4]
    # Teardown flushes every table: it must get past the append-only guards (the flush override).
