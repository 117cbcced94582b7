"""Live updates for the inbox: 204 when nothing changed, ids of what did, waiting on either backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings

from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Role
from chatrk.inbox import events
from chatrk.inbox.models import Conversation, Message
from chatrk.testing import (
    add_member,
    make_channel,
    make_conversation,
    make_message,
    make_workspace,
    signed_in,
)

REDIS_FOR_TESTS = settings.REDIS_URL or "redis://127.0.0.1:6379/13"


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_FOR_TESTS, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["in-process", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "redis" and not redis_reachable():
        pytest.skip("no Redis at 127.0.0.1:6379")
    url = REDIS_FOR_TESTS if request.param == "redis" else ""
    events._redis.cache_clear()
    with override_settings(REDIS_URL=url):
        yield request.param
    events._redis.cache_clear()


def start(member: Membership) -> tuple[Client, str, str]:
    client = signed_in(member.user)
    url = f"/w/{member.workspace.slug}/live/"
    first = client.get(url)
    assert first.status_code == 200 and first.json()["events"] == []
    return client, url, first.json()["cursor"]


@pytest.mark.django_db
def test_nothing_new_is_204_and_new_messages_and_statuses_are_named(backend: str) -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    conversation = make_conversation(make_channel(owner))
    client, url, cursor = start(owner)
    assert client.get(url, {"cursor": cursor}).status_code == 204

    message = make_message(conversation, "hello")
    changed = client.get(url, {"cursor": cursor})
    assert changed.status_code == 200
    body = changed.json()
    assert body["events"] == [
        {"kind": "message.new", "conversation_id": str(conversation.pk), "message_id": str(message.pk)}
    ]
    assert "hello" not in changed.content.decode()
    assert client.get(url, {"cursor": body["cursor"]}).status_code == 204

    Message.objects.filter(pk=message.pk).update(status="read", status_at=now())
    status = client.get(url, {"cursor": body["cursor"]}).json()
    assert [(e["kind"], e["message_id"], e["status"]) for e in status["events"]] == [
        ("message.status", str(message.pk), "read")
    ]


@pytest.mark.django_db
def test_other_workspaces_are_not_heard_and_bad_cursors_are_400(backend: str) -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    other = add_member(make_workspace(), role=Role.OWNER)
    client, url, cursor = start(owner)
    make_message(make_conversation(make_channel(other)), "not yours")
    assert client.get(url, {"cursor": cursor}).status_code == 204
    assert client.get(url, {"cursor": "@@@"}).status_code == 400
    assert client.get(url, {"cursor": cursor, "wait": "soon"}).status_code == 400


@pytest.mark.django_db
def test_only_inbox_readers_and_members_listen() -> None:
    workspace = make_workspace()
    marketer = add_member(workspace, role=Role.MARKETER)
    assert signed_in(marketer.user).get(f"/w/{workspace.slug}/live/").status_code == 403
    outsider = add_member(make_workspace(), role=Role.OWNER)
    assert signed_in(outsider.user).get(f"/w/{workspace.slug}/live/").status_code == 404
    assert Client().get(f"/w/{workspace.slug}/live/").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_a_long_poll_wakes_on_a_published_event(backend: str) -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    conversation = make_conversation(make_channel(owner))
    client, url, cursor = start(owner)
    done = threading.Event()

    def announce() -> None:
        try:
            while not done.wait(0.1):  # again and again, so a listener that subscribes late still hears
                events.publish(owner.workspace_id, "conversation.updated", conversation_id=conversation.pk)
        finally:
            connection.close()

    publisher = threading.Thread(target=announce)
    publisher.start()
    began = time.monotonic()
    try:
        response = client.get(url, {"cursor": cursor, "wait": "10"})
    finally:
        done.set()
        publisher.join()
    assert time.monotonic() - began < 5
    assert response.status_code == 200
    heard: list[dict[str, Any]] = response.json()["events"]
    assert heard[0] == {"kind": "conversation.updated", "conversation_id": str(conversation.pk)}
    assert Conversation.objects.filter(pk=conversation.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_long_poll_hears_changes_made_by_another_process_through_the_database() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    conversation = make_conversation(make_channel(owner))
    client, url, cursor = start(owner)

    def write_later() -> None:  # as the worker's drainer would: no event reaches this process
        try:
            time.sleep(0.3)
            Message.objects.filter(pk=make_message(conversation, "hi").pk).exists()
        finally:
            connection.close()

    writer = threading.Thread(target=write_later)
    with override_settings(REDIS_URL=""):
        writer.start()
        response = client.get(url, {"cursor": cursor, "wait": "5"})
        writer.join()
    assert response.status_code == 200 and response.json()["events"][0]["kind"] == "message.new"


@pytest.mark.django_db
def test_polling_does_not_keep_an_idle_session_alive() -> None:
    from datetime import timedelta

    import time_machine

    owner = add_member(make_workspace(), role=Role.OWNER)
    client, url, cursor = start(owner)
    with time_machine.travel(now() + settings.SESSION_IDLE_TIMEOUT - timedelta(minutes=5)):
        assert client.get(url, {"cursor": cursor}).status_code == 204
    with time_machine.travel(now() + settings.SESSION_IDLE_TIMEOUT + timedelta(minutes=1)):
        assert client.get(url, {"cursor": cursor}).status_code == 302
