"""Contacts found by WhatsApp id through the blind index, conversations numbered per workspace."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
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


def publish_many_then_fail() -> None:
    from django.db import transaction

    from chatrk.inbox import events

    with transaction.atomic():
        events.publish_many([{"kind": "message.status", "workspace_id": 42, "message_id": 9}])
        raise RuntimeError("roll back")


@pytest.mark.django_db(transaction=True)
@override_settings(REDIS_URL="")
def test_many_events_are_published_after_commit_each_to_its_workspace() -> None:
    from django.db import transaction

    from chatrk.inbox import events

    heard: dict[int, list[events.Event]] = {42: [], 43: []}
    stops = [events.subscribe(ws, heard[ws].append) for ws in heard]
    batch = [
        {"kind": "message.status", "workspace_id": ws, "message_id": n} for n, ws in enumerate((42, 43, 42))
    ]
    try:
        with transaction.atomic():
            events.publish_many(batch)
            assert heard == {42: [], 43: []}
        with pytest.raises(RuntimeError):
            publish_many_then_fail()
    finally:
        for stop in stops:
            stop()
    assert heard == {42: [batch[0], batch[2]], 43: [batch[1]]}


@pytest.mark.django_db(transaction=True)
def test_many_events_go_through_redis_each_to_its_workspace() -> None:
    import redis

    from chatrk.inbox import events

    url = settings.REDIS_URL or "redis://127.0.0.1:6379/13"  # as the live-page tests
    client: Any = redis.Redis.from_url(url, socket_connect_timeout=0.5)  # redis-py is partly untyped
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    listener = client.pubsub()
    listener.subscribe(events.channel_name(77), events.channel_name(78))
    batch = [
        {"kind": "message.status", "workspace_id": ws, "message_id": n} for n, ws in enumerate((77, 78, 77))
    ]
    events._redis.cache_clear()
    try:
        with override_settings(REDIS_URL=url):
            events.publish_many(batch)  # autocommit: delivered at once
        got: list[tuple[bytes, dict[str, object]]] = []
        deadline = time.monotonic() + 10  # a bound on waiting, not a speed check
        while len(got) < 3 and time.monotonic() < deadline:
            message = listener.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:  # None: nothing yet, or a subscription's confirmation
                got.append((message["channel"], json.loads(message["data"])))
    finally:
        events._redis.cache_clear()
        listener.close()
        client.close()
    assert got == [
        (events.channel_name(ws).encode(), event)
        for ws, event in ((77, batch[0]), (78, batch[1]), (77, batch[2]))
    ]
