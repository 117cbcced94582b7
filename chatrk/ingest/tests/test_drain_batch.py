"""A batch is applied as a batch: its senders' contacts, keys, conversations and consent holds are
looked up and created together, and the result is the same as applying its events one by one."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from chatrk.audit.models import AuditEvent
from chatrk.consent.gate import check_consent
from chatrk.consent.models import ConsentEvent
from chatrk.consent.tests.helpers import grant
from chatrk.crypto import keyring
from chatrk.crypto.envelope import Sealed, key_id_of
from chatrk.crypto.fields import open_for_system
from chatrk.crypto.models import KeyKind
from chatrk.inbox import actions as inbox_actions
from chatrk.inbox import events
from chatrk.inbox.models import Channel, Contact, Conversation, Message
from chatrk.inbox.names import contacts_named
from chatrk.ingest import actions, hooks
from chatrk.ingest.actions import drain, drain_once
from chatrk.ingest.tests.conftest import make_channel, post

pytestmark = pytest.mark.django_db

T0 = 1_760_000_000


def envelope(channel: Channel, *messages: tuple[str, str, str, str | None]) -> dict[str, Any]:
    """One webhook with messages given as (wamid, sender, text, profile name or None)."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": channel.phone_number_id},
        "contacts": [{"profile": {"name": name}, "wa_id": sender} for _, sender, _, name in messages if name],
        "messages": [
            {"from": sender, "id": wamid, "timestamp": str(T0 + n), "type": "text", "text": {"body": body}}
            for n, (wamid, sender, body, _) in enumerate(messages)
        ],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": channel.waba_id, "changes": [{"field": "messages", "value": value}]}],
    }


def customers(channel: Channel, count: int, *, per_customer: int = 2) -> None:
    for n in range(count * per_customer):
        sender = str(16505550000 + n % count)
        post(channel, envelope(channel, (f"wamid.c{n}", sender, f"message {n}", f"Person {n % count}")))


def drained_queries(channel: Channel, count: int) -> int:
    customers(channel, count)
    actions.forget_cached()
    with CaptureQueriesContext(connection) as queries:
        result = drain(batch_size=500)
    assert result.applied == 2 * count and result.poisoned == 0
    return len(queries)


def test_the_queries_of_a_batch_do_not_grow_with_its_new_customers() -> None:
    few = drained_queries(make_channel("111"), 5)
    many = drained_queries(make_channel("222"), 40)
    assert many == few


def test_a_batch_of_new_customers_gets_one_contact_and_one_conversation_each() -> None:
    channel = make_channel()
    customers(channel, 12)
    drain(batch_size=500)
    contacts = list(Contact.objects.filter(workspace_id=channel.workspace_id))
    assert len(contacts) == 12
    conversations = Conversation.objects.filter(channel=channel)
    assert sorted(conversations.values_list("number", flat=True)) == list(range(1, 13))
    for contact in contacts:
        rows = Message.objects.filter(contact=contact)  # both carry the same timestamp: no order to check
        n = int(open_for_system(contact, "wa_id")) - 16505550000
        bodies = {open_for_system(row, "body") for row in rows}
        assert bodies == {f"message {n}", f"message {n + 12}"} and rows.count() == 2
        assert open_for_system(contact, "profile_name") == f"Person {n}"
        assert contacts_named(channel.workspace_id, f"person {n}") == [contact.pk]
        conversation = conversations.get(contact=contact)
        assert conversation.unread == 2 and conversation.last_inbound_at is not None


def test_two_forms_of_one_brazilian_number_in_one_batch_are_one_contact() -> None:
    channel = make_channel()
    post(channel, envelope(channel, ("wamid.new", "5511981234567", "hi", "Ana")))
    post(channel, envelope(channel, ("wamid.legacy", "551181234567", "again", None)))
    drain()
    contact = Contact.objects.get()
    assert Message.objects.filter(contact=contact).count() == 2
    assert Conversation.objects.get().unread == 2


def test_a_returning_customer_renamed_twice_in_a_batch_keeps_the_last_name() -> None:
    channel = make_channel()
    post(channel, envelope(channel, ("wamid.1", "16505551234", "hi", "Old Name")))
    drain()
    actions.forget_cached()
    post(channel, envelope(channel, ("wamid.2", "16505551234", "hi", "Middle Name")))
    post(channel, envelope(channel, ("wamid.3", "16505551234", "hi", "New Name")))
    drain()
    contact = Contact.objects.get()
    assert open_for_system(contact, "profile_name") == "New Name"
    assert contacts_named(channel.workspace_id, "new") == [contact.pk]
    assert contacts_named(channel.workspace_id, "old") == []


def test_the_same_number_in_another_workspace_is_another_contact() -> None:
    ours, theirs = make_channel("111"), make_channel("222")
    post(ours, envelope(ours, ("wamid.a", "16505551234", "hi", "Ana")))
    post(theirs, envelope(theirs, ("wamid.b", "16505551234", "hi", "Ana")))
    drain()
    assert Contact.objects.filter(workspace_id=ours.workspace_id).count() == 1
    assert Contact.objects.filter(workspace_id=theirs.workspace_id).count() == 1
    assert Message.objects.get(channel=ours).contact.workspace_id == ours.workspace_id


def test_messages_under_each_contacts_own_key() -> None:
    channel = make_channel()
    customers(channel, 3, per_customer=1)
    drain()
    keys = set()
    for row in Message.objects.all():
        key = keyring.active_key(row.workspace_id, KeyKind.SUBJECT, f"contact:{row.contact_id}")
        assert isinstance(row.body, Sealed) and key_id_of(row.body) == key.id
        keys.add(key.id)
    assert len(keys) == 3


def test_ordinary_messages_without_a_reply_hold_skip_the_consent_ledger() -> None:
    channel = make_channel()
    customers(channel, 4)
    with mock.patch.object(hooks, "inbound_reply", wraps=hooks.inbound_reply) as hook:
        drain(batch_size=500)
    assert hook.call_count == 0
    assert ConsentEvent.objects.count() == 0


def test_a_stop_then_a_message_in_one_batch_revokes_then_lifts_the_reply_hold() -> None:
    channel = make_channel()
    post(channel, envelope(channel, ("wamid.hi", "16505551234", "hello", "Ana")))
    drain()
    contact = Contact.objects.get()
    grant(contact.workspace, contact, ("marketing",))
    post(channel, envelope(channel, ("wamid.stop", "16505551234", "STOP", None)))
    post(channel, envelope(channel, ("wamid.more", "16505551234", "where is my order?", None)))
    post(channel, envelope(channel, ("wamid.other", "16505559999", "hello", None)))
    with mock.patch.object(hooks, "inbound_reply", wraps=hooks.inbound_reply) as hook:
        drain()
    assert [call.kwargs["wamid"] for call in hook.call_args_list] == ["wamid.stop", "wamid.more"]
    assert not check_consent(channel.workspace_id, contact.pk, "marketing", window_open=False).allowed
    assert check_consent(channel.workspace_id, contact.pk, "service", window_open=True).allowed


def test_a_held_contacts_ordinary_message_in_a_later_batch_lifts_the_hold() -> None:
    channel = make_channel()
    post(channel, envelope(channel, ("wamid.stop", "16505551234", "STOP", "Ana")))
    drain()
    contact = Contact.objects.get()
    assert not check_consent(channel.workspace_id, contact.pk, "service", window_open=True).allowed
    post(channel, envelope(channel, ("wamid.more", "16505551234", "sorry, wrong button", None)))
    drain()
    assert check_consent(channel.workspace_id, contact.pk, "service", window_open=True).allowed


@pytest.mark.django_db(transaction=True)
def test_two_drainers_make_one_contact_for_one_new_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first drainer holds its new contact uncommitted until the second has finished or given up;
    without the per-number lock the second would not see it and would make another."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL run only (SQLite serialises writers)")
    channel = make_channel()
    post(channel, envelope(channel, ("wamid.earlier", "16505559999", "hi", "Bo")))
    drain()  # the workspace's keys exist: making them would also make the second drainer wait
    post(channel, envelope(channel, ("wamid.a", "16505551234", "one", "Ana")))
    post(channel, envelope(channel, ("wamid.b", "16505551234", "two", "Ana")))
    _first_drainer_holds_while_a_second_drains(
        monkeypatch, inbox_actions, "_create_contacts", when=lambda _, fresh: bool(fresh), seconds=3
    )
    ana = Contact.objects.exclude(pk=Conversation.objects.get(number=1).contact_id)
    assert ana.count() == 1
    assert Message.objects.filter(contact__in=ana).count() == 2
    assert Conversation.objects.get(contact__in=ana).unread == 2


@pytest.mark.django_db(transaction=True)
def test_two_drainers_audit_one_reopening_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first drainer holds its reopening uncommitted; the second waits for it on the row lock and
    then reads the conversation as open: without the lock both would audit the reopening."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL run only (SQLite serialises writers)")
    channel = make_channel()
    post(channel, envelope(channel, ("wamid.1", "16505551234", "hi", "Ana")))
    drain()
    Conversation.objects.update(status=Conversation.Status.RESOLVED)
    post(channel, envelope(channel, ("wamid.2", "16505551234", "one", "Ana")))
    post(channel, envelope(channel, ("wamid.3", "16505551234", "two", "Ana")))
    _first_drainer_holds_while_a_second_drains(
        monkeypatch, actions, "_audit_reopening", when=lambda _: True, seconds=1
    )
    assert Message.objects.count() == 3
    assert (
        AuditEvent.objects.filter(action="conversation.status_changed", reason="customer wrote").count() == 1
    )


def _first_drainer_holds_while_a_second_drains(
    monkeypatch: pytest.MonkeyPatch,
    owner: ModuleType,
    name: str,
    *,
    when: Callable[..., bool],
    seconds: float,
) -> None:
    """Two drainers, one event each: the first, once it has called ``owner.name`` with arguments
    ``when`` accepts, holds its transaction open until the second has drained (or ``seconds`` pass)."""
    reached, second_done = threading.Event(), threading.Event()
    original = getattr(owner, name)

    def call_then_hold(*args: Any) -> None:
        original(*args)
        if when(*args) and not reached.is_set():
            reached.set()
            second_done.wait(timeout=seconds)

    monkeypatch.setattr(owner, name, call_then_hold)
    first = threading.Thread(target=drain_one)
    first.start()
    assert reached.wait(timeout=30)
    second = threading.Thread(target=drain_one, args=(second_done,))
    second.start()
    first.join()
    second.join()


def drain_one(done: threading.Event | None = None) -> None:
    try:
        drain_once(batch_size=1)
    finally:
        connection.close()
        if done is not None:
            done.set()


def test_the_erasure_ledger_is_read_once_per_batch(settings: Any) -> None:
    customers(make_channel(), 30)
    with mock.patch.object(os, "stat", wraps=os.stat) as stat:
        assert drain_once(batch_size=100).applied == 60
    location = os.fspath(settings.CRYPTO_ERASURE_LEDGER)
    assert [call.args[0] for call in stat.call_args_list].count(location) == 1


def test_an_erasure_recorded_by_another_process_is_seen_by_the_next_batch(settings: Any) -> None:
    channel = make_channel()
    post(channel, envelope(channel, ("wamid.1", "16505551234", "hello", "Ada")))
    assert drain().applied == 1
    body = Message.objects.get().body
    assert isinstance(body, Sealed)
    ledger_file = Path(settings.CRYPTO_ERASURE_LEDGER)
    ledger_file.parent.mkdir(parents=True, exist_ok=True)
    with ledger_file.open("a") as handle:  # this process still holds the key in its cache
        handle.write(f"{key_id_of(body)} 2026-12-06T00:00:00+00:00\n")
    post(channel, envelope(channel, ("wamid.2", "16505551234", "still there?", "Ada")))
    result = drain()
    assert (result.applied, result.retried) == (0, 1)
    assert list(Message.objects.values_list("wamid", flat=True)) == ["wamid.1"]


def test_draining_spaces_young_collections_and_restores_the_pace_even_on_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[int, int, int]] = []

    def failing_batch(batch_size: int | None = None) -> actions.DrainResult:
        seen.append(gc.get_threshold())
        raise RuntimeError("database gone")

    before = gc.get_threshold()
    monkeypatch.setattr(actions, "drain_once", failing_batch)
    with pytest.raises(RuntimeError):
        drain()
    assert seen == [(actions.YOUNG_COLLECTION_THRESHOLD, *before[1:])]
    assert gc.get_threshold() == before


@override_settings(REDIS_URL="")  # heard in this process
def test_a_batch_wakes_each_workspace_with_new_messages_once_after_commit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    first, second = make_channel("111"), make_channel("222")
    customers(first, 3)
    customers(second, 2)
    heard: dict[int, list[events.Event]] = {first.workspace_id: [], second.workspace_id: []}
    stops = [events.subscribe(ws, heard[ws].append) for ws in heard]
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert drain_once(batch_size=100).applied == 10
            assert heard == {first.workspace_id: [], second.workspace_id: []}  # not before commit
    finally:
        for stop in stops:
            stop()
    assert heard == {ws: [{"kind": "message.new", "workspace_id": ws}] for ws in heard}
