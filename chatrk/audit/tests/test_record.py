"""``record``: gap-free sequencing, leaf hashes over canonical entries, no personal data in clear."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import transaction
from django.test import override_settings

from chatrk.audit.actions import SYSTEM, Actor, Origin, record
from chatrk.audit.canonical import NotCanonicalError
from chatrk.audit.entries import ENTRY_COLUMNS, entry_bytes
from chatrk.audit.merkle import leaf_hash
from chatrk.audit.models import AuditCheckpoint, AuditEvent, Outcome
from chatrk.audit.tests.conftest import write_events

pytestmark = pytest.mark.django_db

type CaptureOnCommit = Callable[..., AbstractContextManager[list[Callable[[], object]]]]


def test_seq_is_the_leaf_index_from_zero_without_gaps() -> None:
    events = write_events(5)
    assert [event.seq for event in events] == [0, 1, 2, 3, 4]
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == [0, 1, 2, 3, 4]


def test_a_rolled_back_transaction_leaves_no_hole() -> None:
    write_events(2)
    with pytest.raises(RuntimeError):
        _change_that_fails_after_recording()
    after = record("role_changed", actor=SYSTEM, workspace_id=1)
    assert after.seq == 2
    assert AuditEvent.objects.count() == 3


def _change_that_fails_after_recording() -> None:
    with transaction.atomic():
        record("role_changed", actor=SYSTEM, workspace_id=1)
        raise RuntimeError("the change failed, so its event must vanish with it")


def test_leaf_hash_is_over_the_canonical_entry_including_seq() -> None:
    with time_machine.travel(datetime(2026, 11, 29, 6, 30, 1, 250000, tzinfo=UTC), tick=False):
        event = record(
            "privilege_permissions_changed",
            actor=Actor.user(7),
            workspace_id=3,
            target=("membership", 12),
            outcome=Outcome.DENIED,
            reason="last_owner",
            details={"from": "owner", "to": "agent", "forced": False, "count": 2, "note": None},
        )
    stored = AuditEvent.objects.get(seq=event.seq)
    entry = entry_bytes(tuple(getattr(stored, column) for column in ENTRY_COLUMNS))
    assert json.loads(entry) == {
        "v": 1,
        "seq": 0,
        "time": "2026-11-29T06:30:01.250000Z",
        "workspace": 3,
        "actor": {"kind": "user", "id": "7"},
        "action": "privilege_permissions_changed",
        "target": {"kind": "membership", "id": "12"},
        "outcome": "denied",
        "reason": "last_owner",
        "origin": {"ip_hmac": "", "user_agent_hmac": ""},
        "details": {"count": 2, "forced": False, "from": "owner", "note": None, "to": "agent"},
    }
    assert bytes(stored.leaf_hash) == leaf_hash(entry)


def test_origin_is_stored_only_as_keyed_hashes() -> None:
    event = record("authn_login_fail", actor=Actor("anonymous"), origin=Origin("198.51.100.7", "Mozilla/5.0"))
    row = AuditEvent.objects.filter(seq=event.seq).values().get()
    assert "198.51.100.7" not in json.dumps(row, default=str)
    assert "Mozilla" not in json.dumps(row, default=str)
    assert len(row["ip_hmac"]) == 64
    assert len(row["user_agent_hmac"]) == 64


def test_details_outside_the_canonical_subset_fail_closed() -> None:
    with pytest.raises(NotCanonicalError), transaction.atomic():
        record("export", actor=SYSTEM, details={"ratio": 0.5})  # type: ignore[dict-item]
    assert not AuditEvent.objects.exists()


@override_settings(AUDIT_CHECKPOINT_EVERY=3)
def test_every_nth_event_publishes_a_checkpoint_after_commit(
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        write_events(4)
    assert len(callbacks) == 1  # only the third event is a multiple of N
    assert list(AuditCheckpoint.objects.values_list("tree_size", flat=True)) == [4]


@override_settings(AUDIT_CHECKPOINT_EVERY=2, AUDIT_SINK="nowhere:")
def test_a_failing_checkpoint_never_undoes_the_committed_event(
    django_capture_on_commit_callbacks: CaptureOnCommit, caplog: pytest.LogCaptureFixture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        write_events(2)
    assert AuditEvent.objects.count() == 2
    assert not AuditCheckpoint.objects.exists()
    assert "audit checkpoint could not be published" in caplog.text
