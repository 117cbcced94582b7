"""Contacts found by WhatsApp id through the blind index, conversations numbered per workspace."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from chatrk.audit.actions import Origin
from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.crypto.fields import open_for_system
from chatrk.inbox.actions import (
    ChannelSettings,
    connect_channel,
    contact_for,
    conversation_for,
    window_is_open,
)
from chatrk.inbox.errors import InboxError
from chatrk.inbox.models import Channel, Contact
from chatrk.testing import add_member, make_workspace

pytestmark = pytest.mark.django_db


def channel(phone_number_id: str = "106540352242922") -> Channel:
    owner = add_member(make_workspace(), role=Role.OWNER)
    spec = ChannelSettings(
        "Support", phone_number_id, "102290129340398", "+1 555 078 3881", "EAAG-token", "app-secret"
    )
    return connect_channel(owner, spec, origin=Origin())


def test_credentials_are_encrypted_at_rest() -> None:
    connected = channel()
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, app_secret, verify_token FROM inbox_channel")
        stored = b"".join(bytes(value) for value in cursor.fetchone())
    assert b"EAAG-token" not in stored and b"app-secret" not in stored
    assert open_for_system(connected, "access_token") == "EAAG-token"
    assert len(open_for_system(connected, "verify_token")) >= 43


def test_a_phone_number_id_connects_once() -> None:
    channel(phone_number_id="1111")
    with pytest.raises(InboxError):
        channel(phone_number_id="1111")


def test_contacts_are_found_by_any_form_of_their_number() -> None:
    connected = channel()
    first = contact_for(connected.workspace_id, "551187654321", profile_name="Ana")
    assert contact_for(connected.workspace_id, "5511987654321").pk == first.pk
    assert contact_for(connected.workspace_id, "+55 11 98765-4321", profile_name="Ana Clara").pk == first.pk
    first.refresh_from_db()
    assert open_for_system(first, "profile_name") == "Ana Clara"
    assert Contact.objects.count() == 1
    other_workspace = make_workspace()
    assert contact_for(other_workspace.pk, "5511987654321").pk != first.pk


def test_no_number_or_name_in_clear_in_the_contact_table() -> None:
    connected = channel()
    contact_for(connected.workspace_id, "16505551234", profile_name="Sheena Nelson")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM inbox_contact")
        row = b"|".join(
            bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in cursor.fetchone()
        )
    assert b"16505551234" not in row and b"Sheena" not in row


def test_conversations_are_numbered_per_workspace_and_reused() -> None:
    connected = channel()
    a = contact_for(connected.workspace_id, "16505551234")
    b = contact_for(connected.workspace_id, "16505551235")
    first, second = conversation_for(connected, a), conversation_for(connected, b)
    assert (first.number, second.number) == (1, 2)
    assert conversation_for(connected, a).pk == first.pk


def test_the_customer_service_window_lasts_24_hours_from_the_last_inbound() -> None:
    connected = channel()
    conversation = conversation_for(connected, contact_for(connected.workspace_id, "16505551234"))
    assert not window_is_open(conversation)
    conversation.last_inbound_at = now()
    assert window_is_open(conversation, now() + timedelta(hours=23, minutes=59))
    assert not window_is_open(conversation, now() + timedelta(hours=24, seconds=1))


def publish_then_fail() -> None:
    from django.db import transaction

    from chatrk.inbox import events

    with transaction.atomic():
        events.publish(42, "message.new", message_id=8)
        raise RuntimeError("roll back")


@pytest.mark.django_db(transaction=True)
@override_settings(REDIS_URL="")  # the embedded, in-process delivery
def test_events_are_published_after_commit_only() -> None:
    from django.db import transaction

    from chatrk.inbox import events

    heard: list[events.Event] = []
    unsubscribe = events.subscribe(42, heard.append)
    try:
        with transaction.atomic():
            events.publish(42, "message.new", message_id=7)
            assert heard == []
        with pytest.raises(RuntimeError):
            publish_then_fail()
    finally:
        unsubscribe()
    assert heard == [{"kind": "message.new", "workspace_id": 42, "message_id": 7}]


def publish_all_then_fail(batch: list[dict[str, int | str]]) -> None:
    from django.db import transaction

    from chatrk.inbox import events

    with transaction.atomic():
        events.publish_all(batch)
        raise RuntimeError("roll back")


@pytest.mark.django_db(transaction=True)
@override_settings(REDIS_URL="")
def test_events_published_together_reach_each_workspace_after_commit_only() -> None:
    from django.db import transaction

    from chatrk.inbox import events

    heard: dict[int, list[events.Event]] = {42: [], 43: []}
    stops = [events.subscribe(ws, heard[ws].append) for ws in heard]
    batch: list[events.Event] = [
        {"kind": "message.new", "workspace_id": 42, "message_id": 1},
        {"kind": "message.new", "workspace_id": 43, "message_id": 2},
        {"kind": "message.new", "workspace_id": 42, "message_id": 3},
    ]
    try:
        with pytest.raises(RuntimeError):
            publish_all_then_fail(batch)
        with transaction.atomic():
            events.publish_all(batch)
            assert heard == {42: [], 43: []}
    finally:
        for stop in stops:
            stop()
    assert [event["message_id"] for event in heard[42]] == [1, 3]
    assert [event["message_id"] for event in heard[43]] == [2]


@pytest.mark.django_db(transaction=True)
def test_events_published_together_go_through_redis_in_one_pipeline() -> None:
    import os

    import redis
    from django.db import transaction

    from chatrk.inbox import events

    url = os.environ.get("REDIS_URL", "")
    if not url:
        pytest.skip("needs REDIS_URL")
    client: Any = redis.Redis.from_url(url)  # redis-py's pubsub() is untyped
    listener = client.pubsub()
    listener.subscribe(events.channel_name(42))
    listener.get_message(timeout=1)  # the subscription's confirmation
    with override_settings(REDIS_URL=url), transaction.atomic():
        events.publish_all([{"kind": "message.new", "workspace_id": 42, "message_id": n} for n in (1, 2)])
    received = [listener.get_message(timeout=2) for _ in range(2)]
    listener.close()
    assert [json.loads(message["data"])["message_id"] for message in received if message] == [1, 2]
