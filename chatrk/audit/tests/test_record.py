"""``record``: gap-free sequencing, leaf hashes over canonical entries, no personal data in clear."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

from chatrk.audit import sequencer
from chatrk.audit.actions import SYSTEM, Actor, Origin, record
from chatrk.audit.canonical import NotCanonicalError
from chatrk.audit.entries import ENTRY_COLUMNS, entry_bytes
from chatrk.audit.merkle import leaf_hash
from chatrk.audit.middleware import SequencingLeftToWorkerMiddleware
from chatrk.audit.models import AuditCheckpoint, AuditEvent, Outcome
from chatrk.audit.sequencer import sequence_pending
from chatrk.audit.tasks import publish_checkpoint_if_due
from chatrk.audit.tests.conftest import write_events
from chatrk.audit.verify import verify_log

pytestmark = pytest.mark.django_db

type CaptureOnCommit = Callable[..., AbstractContextManager[list[Callable[[], object]]]]


def test_events_wait_unsequenced_until_the_sequencer_gives_leaf_indexes_in_arrival_order() -> None:
    first = record("authn_login_success", actor=SYSTEM)
    second = record("authn_login_success", actor=SYSTEM)
    assert (first.seq, second.seq, first.leaf_hash) == (None, None, None)
    assert sequence_pending() == 2
    assert list(AuditEvent.objects.order_by("id").values_list("seq", flat=True)) == [0, 1]
    write_events(3)
    assert list(AuditEvent.objects.order_by("id").values_list("seq", flat=True)) == [0, 1, 2, 3, 4]
    assert sequence_pending() == 0


def test_sequencing_spans_several_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sequencer, "BATCH_SIZE", 2)
    for _ in range(5):
        record("authn_login_success", actor=SYSTEM)
    assert sequence_pending() == 5
    assert list(AuditEvent.objects.order_by("id").values_list("seq", flat=True)) == [0, 1, 2, 3, 4]


def test_a_rolled_back_transaction_leaves_no_hole() -> None:
    write_events(2)
    with pytest.raises(RuntimeError):
        _change_that_fails_after_recording()
    record("role_changed", actor=SYSTEM, workspace_id=1)
    sequence_pending()
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == [0, 1, 2]


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
    sequence_pending()
    stored = AuditEvent.objects.get(pk=event.pk)
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
    assert bytes(stored.leaf_hash or b"") == leaf_hash(entry)


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
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):
            record("authn_login_success", actor=SYSTEM)
    # The hooks run after the commit of all four: the first sequences them all in one batch, which
    # crosses a multiple of N, so one checkpoint covers the four.
    assert list(AuditEvent.objects.order_by("id").values_list("seq", flat=True)) == [0, 1, 2, 3]
    assert list(AuditCheckpoint.objects.values_list("tree_size", flat=True)) == [4]
    with django_capture_on_commit_callbacks(execute=True):
        record("authn_login_success", actor=SYSTEM)
    assert AuditCheckpoint.objects.count() == 1  # size 5 crosses no multiple of 3


def test_after_commit_sequencing_is_rate_limited_per_process(
    django_capture_on_commit_callbacks: CaptureOnCommit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sequencer, "SEQUENCE_INTERVAL", 3600.0)
    monkeypatch.setattr(sequencer._throttle, "last_run", float("-inf"))
    with django_capture_on_commit_callbacks(execute=True):
        record("authn_login_success", actor=SYSTEM)  # sequenced: the first run in a long while
    with django_capture_on_commit_callbacks(execute=True):
        record("authn_login_success", actor=SYSTEM)  # left for the next run, so bursts share a batch
    assert list(AuditEvent.objects.order_by("id").values_list("seq", flat=True)) == [0, None]


@override_settings(AUDIT_CHECKPOINT_EVERY=2, AUDIT_SINK="nowhere:")
def test_a_failing_checkpoint_never_undoes_the_committed_event(
    django_capture_on_commit_callbacks: CaptureOnCommit, caplog: pytest.LogCaptureFixture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            record("authn_login_success", actor=SYSTEM)
    assert AuditEvent.objects.count() == 2
    assert not AuditCheckpoint.objects.exists()
    assert "could not be sequenced or checkpointed" in caplog.text


def test_ordering_by_seq_puts_events_still_pending_in_arrival_order() -> None:
    write_events(2)
    for action in ("c", "d", "e"):
        record(action, actor=SYSTEM)  # not sequenced: this test's transaction never commits
    ordered = AuditEvent.objects.order_by("seq").values_list("seq", "action")
    assert list(ordered) == [
        (0, "authn_login_fail"),
        (1, "authn_login_success"),
        (None, "c"),
        (None, "d"),
        (None, "e"),
    ]
    newest_first = AuditEvent.objects.order_by("-seq").values_list("action", flat=True)
    assert list(newest_first) == ["e", "d", "c", "authn_login_success", "authn_login_fail"]


def test_web_requests_leave_sequencing_to_the_workers_periodic_task() -> None:
    assert "chatrk.audit.middleware.SequencingLeftToWorkerMiddleware" in settings.MIDDLEWARE


@pytest.mark.django_db(transaction=True)  # real commits: the after-commit hook runs inside the request
@override_settings(AUDIT_CHECKPOINT_EVERY=2)
def test_a_requests_events_commit_and_wait_for_the_worker_then_enter_the_tree() -> None:
    def view(request: HttpRequest) -> HttpResponse:
        for _ in range(2):
            with transaction.atomic():
                record("crypto.reveal", actor=SYSTEM, details={"purpose": "display"})
        return HttpResponse("shown")

    sequencer._throttle.last_run = float("-inf")
    response = SequencingLeftToWorkerMiddleware(view)(RequestFactory().get("/"))
    assert response.content == b"shown"
    assert list(AuditEvent.objects.order_by("id").values_list("seq", flat=True)) == [None, None]
    assert not AuditCheckpoint.objects.exists()  # a checkpoint falls due, but not in the request

    with transaction.atomic():
        record("authn_login_success", actor=SYSTEM)  # outside a request: sequenced after its commit
    assert list(AuditEvent.objects.order_by("id").values_list("seq", flat=True)) == [0, 1, 2]

    with transaction.atomic():  # committed after the request: its events still wait for the worker
        SequencingLeftToWorkerMiddleware(view)(RequestFactory().get("/"))
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 2
    assert publish_checkpoint_if_due.call() == 5  # the worker's task: every event in, then signed
    report = verify_log()
    assert (report.tree_size, report.pending, report.latest_checkpoint_size) == (5, 0, 5)


def test_leaving_sequencing_to_the_worker_ends_with_the_request_even_when_it_fails() -> None:
    def failing(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("the view failed")

    with pytest.raises(RuntimeError):
        SequencingLeftToWorkerMiddleware(failing)(RequestFactory().get("/"))
    assert sequencer.is_left_to_worker() is False
