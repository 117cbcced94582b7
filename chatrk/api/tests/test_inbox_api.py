"""Channels, contacts, conversations and messages over the API: scoped, keyset-paged, audited reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings

from chatrk.accounts.actions import create_api_token
from chatrk.accounts.scopes import Scope
from chatrk.audit.actions import SYSTEM, Origin
from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Role
from chatrk.crypto.actions import SubjectRef
from chatrk.inbox.models import Channel, Conversation
from chatrk.testing import add_member, make_channel, make_conversation, make_message, make_workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner() -> Membership:
    return add_member(make_workspace(), role=Role.OWNER)


@pytest.fixture
def channel(owner: Membership) -> Channel:
    return make_channel(owner)


def client_for(member: Membership, *scopes: Scope) -> Client:
    _, secret = create_api_token(member, name="t", scopes=list(scopes or Scope), days=1, origin=Origin())
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def reveals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="crypto.reveal").order_by("seq"))


def get(client: Client, url: str, status: int = 200) -> Any:
    response = client.get(url)
    assert response.status_code == status, response.content
    return response.json()


def test_channels_are_listed_without_secrets(owner: Membership, channel: Channel) -> None:
    client = client_for(owner, Scope.CHANNELS_READ)
    listed = get(client, "/api/v1/channels")
    assert [c["id"] for c in listed] == [str(channel.pk)]
    body = str(listed)
    assert "EAAG" not in body and "secret" not in body and channel.webhook_key not in body
    assert get(client, f"/api/v1/channels/{channel.pk}")["health"] == "connected"
    assert get(client, "/api/v1/channels/12345", 404) == {"detail": "No such channel."}


def test_each_resource_needs_its_scope(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel)
    client = client_for(owner, Scope.WORKSPACE_READ)
    for url in ("/api/v1/channels", "/api/v1/contacts", "/api/v1/conversations",
                f"/api/v1/conversations/{conversation.pk}/messages"):  # fmt: skip
        assert client.get(url).status_code == 403
    response = client.post(
        f"/api/v1/conversations/{conversation.pk}/status", {"status": "resolved"}, "application/json"
    )
    assert response.status_code == 403


def test_a_scope_dies_with_the_creators_permission(owner: Membership, channel: Channel) -> None:
    make_conversation(channel, name="Ana")
    client = client_for(owner, Scope.CONTACTS_READ)
    owner.role = Role.MARKETER
    owner.save()
    assert client.get("/api/v1/contacts").status_code == 403
    assert reveals() == []


def test_contacts_page_by_keyset_with_one_audit_event_per_page(owner: Membership, channel: Channel) -> None:
    for n in range(5):
        make_conversation(channel, f"1650555000{n}", name=f"Customer {n}")
    client = client_for(owner, Scope.CONTACTS_READ)
    first = get(client, "/api/v1/contacts?limit=2")
    assert [c["profile_name"] for c in first["items"]] == ["Customer 4", "Customer 3"]
    assert first["items"][0]["wa_id"] == "16505550004"
    second = get(client, f"/api/v1/contacts?limit=2&cursor={first['next_cursor']}")
    third = get(client, f"/api/v1/contacts?limit=2&cursor={second['next_cursor']}")
    names = [c["profile_name"] for page in (first, second, third) for c in page["items"]]
    assert names == [f"Customer {n}" for n in (4, 3, 2, 1, 0)]
    assert third["next_cursor"] is None
    events = reveals()
    assert len(events) == 3
    assert all(e.actor_kind == "token" for e in events)
    assert events[0].details["fields"] == "wa_id,profile_name"
    assert "Customer" not in str(events[0].details)
    assert get(client, "/api/v1/contacts?cursor=bogus", 400)["detail"]


def test_a_contact_is_looked_up_by_number_in_a_post_body(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel, "5511987654321", name="Ana")
    client = client_for(owner, Scope.CONTACTS_READ)
    response = client.post(
        "/api/v1/contacts/lookup", {"phone_number": "+55 11 8765-4321"}, "application/json"
    )
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["items"]] == [str(conversation.contact_id)]
    nobody = client.post("/api/v1/contacts/lookup", {"phone_number": "not a number"}, "application/json")
    assert nobody.json() == {"items": [], "next_cursor": None}
    assert get(client, f"/api/v1/contacts/{conversation.contact_id}")["profile_name"] == "Ana"


def test_an_erased_contact_reads_as_erased(owner: Membership, channel: Channel) -> None:
    from chatrk.crypto.actions import shred_subject

    conversation = make_conversation(channel, name="Ana")
    make_message(conversation, "my address is 1 Main St")
    shred_subject(owner.workspace_id, SubjectRef("contact", conversation.contact_id), actor=SYSTEM)
    client = client_for(owner)
    contact = get(client, f"/api/v1/contacts/{conversation.contact_id}")
    assert contact["erased"] is True and contact["wa_id"] is None and contact["profile_name"] is None
    (message,) = get(client, f"/api/v1/conversations/{conversation.pk}/messages")["items"]
    assert message["erased"] is True and message["body"] is None


def test_conversations_filter_and_page_by_recent_activity(owner: Membership, channel: Channel) -> None:
    agent = add_member(owner.workspace, role=Role.AGENT)
    rows = [make_conversation(channel) for _ in range(4)]
    for n, row in enumerate(rows):
        row.last_message_at = now() + timedelta(minutes=n)
        row.status = "resolved" if n == 0 else "open"
        row.assignee_id = agent.user_id if n == 1 else None
        row.save()
    client = client_for(owner, Scope.CONVERSATIONS_READ)
    ids = [c["id"] for c in get(client, "/api/v1/conversations")["items"]]
    assert ids == [str(r.pk) for r in reversed(rows)]
    page = get(client, "/api/v1/conversations?limit=3")
    rest = get(client, f"/api/v1/conversations?limit=3&cursor={page['next_cursor']}")
    assert [c["id"] for c in page["items"] + rest["items"]] == ids
    assert [c["id"] for c in get(client, "/api/v1/conversations?status=resolved")["items"]] == [
        str(rows[0].pk)
    ]
    mine = get(client, f"/api/v1/conversations?assignee_member_id={agent.pk}")["items"]
    assert [(c["id"], c["assignee_member_id"]) for c in mine] == [(str(rows[1].pk), str(agent.pk))]
    assert len(get(client, "/api/v1/conversations?unassigned=true")["items"]) == 3
    assert (
        get(client, f"/api/v1/conversations?channel_id={channel.pk}&status=open")["items"][0]["number"] == 4
    )
    assert get(client, "/api/v1/conversations?channel_id=42")["items"] == []
    assert get(client, "/api/v1/conversations?status=nonsense", 422)["detail"].startswith("Invalid request")


def test_assign_and_change_status_are_audited_actions(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel)
    agent = add_member(owner.workspace, role=Role.AGENT)
    marketer = add_member(owner.workspace, role=Role.MARKETER)
    client = client_for(owner, Scope.CONVERSATIONS_WRITE)
    url = f"/api/v1/conversations/{conversation.pk}"
    assigned = client.post(f"{url}/assign", {"member_id": agent.pk}, "application/json")
    assert assigned.status_code == 200 and assigned.json()["assignee_member_id"] == str(agent.pk)
    refused = client.post(f"{url}/assign", {"member_id": marketer.pk}, "application/json")
    assert refused.status_code == 400
    assert client.post(f"{url}/assign", {"member_id": 999}, "application/json").status_code == 400
    until = (now() + timedelta(hours=2)).isoformat()
    snoozed = client.post(f"{url}/status", {"status": "snoozed", "snoozed_until": until}, "application/json")
    assert snoozed.status_code == 200 and snoozed.json()["status"] == "snoozed"
    assert client.post(f"{url}/status", {"status": "snoozed"}, "application/json").status_code == 400
    past = (now() - timedelta(hours=2)).isoformat()
    late = client.post(f"{url}/status", {"status": "snoozed", "snoozed_until": past}, "application/json")
    assert late.status_code == 400
    resolved = client.post(f"{url}/status", {"status": "resolved"}, "application/json")
    assert resolved.json()["snoozed_until"] is None
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee_id) == ("resolved", agent.user_id)
    actions = list(
        AuditEvent.objects.filter(target_kind="conversation")
        .order_by("seq")
        .values_list("action", "actor_kind")
    )
    assert actions == [
        ("conversation.assigned", "token"),
        ("conversation.status_changed", "token"),
        ("conversation.status_changed", "token"),
    ]
    unassigned = client.post(f"{url}/assign", {"member_id": None}, "application/json")
    assert unassigned.json()["assignee_member_id"] is None


def test_messages_are_paged_newest_first_and_read_through_an_audited_reveal(
    owner: Membership, channel: Channel
) -> None:
    conversation = make_conversation(channel)
    start = now()
    for n in range(5):
        make_message(conversation, f"message {n}", at=start + timedelta(seconds=n))
    client = client_for(owner, Scope.MESSAGES_READ)
    url = f"/api/v1/conversations/{conversation.pk}/messages"
    first = get(client, f"{url}?limit=3")
    rest = get(client, f"{url}?limit=3&cursor={first['next_cursor']}")
    assert [m["body"] for m in first["items"] + rest["items"]] == [f"message {n}" for n in (4, 3, 2, 1, 0)]
    assert len(reveals()) == 2
    assert get(client, "/api/v1/conversations/1/messages", 404) == {"detail": "No such conversation."}


def test_malformed_requests_get_4xx_with_a_detail(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel)
    client = client_for(owner)
    assert "less than or equal" in get(client, f"/api/v1/conversations/{2**70}", 422)["detail"]
    assert get(client, f"/api/v1/members/{2**70}", 422)["detail"]
    assert get(client, f"/api/v1/conversations/{2**63 - 1}", 404)  # the largest id: well formed, unknown
    assert get(client, "/api/v1/conversations/-1", 422)["detail"]
    assert get(client, "/api/v1/contacts?limit=abc", 422)["detail"]
    url = f"/api/v1/conversations/{conversation.pk}/status"
    bad = client.post(url, "{not json", "application/json")
    assert 400 <= bad.status_code < 500
    secret = client.post("/api/v1/contacts/lookup", {"phone_number": 5}, "application/json")
    assert secret.status_code == 422 and "5" not in secret.json()["detail"].replace("422", "")


@override_settings(REDIS_URL="")  # heard in this process; Redis pub/sub: chatrk/web/tests/test_live.py
def test_status_changes_tell_the_workspace(owner: Membership, channel: Channel) -> None:
    from django.db import transaction

    from chatrk.audit.actions import Actor
    from chatrk.inbox import actions, events

    conversation = make_conversation(channel)
    heard: list[dict[str, Any]] = []
    stop = events.subscribe(owner.workspace_id, heard.append)
    try:
        with transaction.atomic():
            actions.set_conversation_status(conversation, "pending", actor=Actor("system"), origin=Origin())
            assert heard == []  # not before commit
    finally:
        stop()
    assert Conversation.objects.get(pk=conversation.pk).status == "pending"


@pytest.mark.django_db(transaction=True)
@override_settings(REDIS_URL="")
def test_status_changes_are_published_after_commit() -> None:
    from chatrk.audit.actions import Actor
    from chatrk.inbox import actions, events

    owner = add_member(make_workspace(), role=Role.OWNER)
    conversation = make_conversation(make_channel(owner))
    heard: list[dict[str, Any]] = []
    stop = events.subscribe(owner.workspace_id, heard.append)
    try:
        actions.set_conversation_status(conversation, "pending", actor=Actor("system"), origin=Origin())
        actions.assign_conversation(conversation, owner, actor=Actor("system"), origin=Origin())
        actions.assign_conversation(conversation, owner, actor=Actor("system"), origin=Origin())  # no change
    finally:
        stop()
    updated = {
        "kind": "conversation.updated",
        "workspace_id": owner.workspace_id,
        "conversation_id": conversation.pk,
    }
    # Each change also writes its event into the thread ("Marked pending", "Assigned to …"): a new row.
    assert [event["kind"] for event in heard] == ["message.new", "conversation.updated"] * 2
    assert heard[1] == heard[3] == updated
    assert {event["conversation_id"] for event in heard} == {conversation.pk}
