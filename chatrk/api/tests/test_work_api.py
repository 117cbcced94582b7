"""Labels, labels on conversations, transcripts and round-robin over the API: scoped and audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from chatrk.accounts.actions import create_api_token
from chatrk.accounts.errors import AccountError
from chatrk.accounts.scopes import Scope
from chatrk.audit.actions import SYSTEM, Origin
from chatrk.audit.models import AuditEvent
from chatrk.core.models import Membership
from chatrk.core.roles import Role
from chatrk.inbox import work
from chatrk.inbox.models import Channel, Conversation, ConversationLabel, Label
from chatrk.testing import add_member, make_channel, make_conversation, make_message, make_workspace

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def owner() -> Membership:
    return add_member(make_workspace(), role=Role.OWNER)


@pytest.fixture
def conversation(owner: Membership) -> Conversation:
    found = make_conversation(make_channel(owner), "447700900123", name="Valentina")
    make_message(found, "Where is my order?")
    return found


def client_for(member: Membership, *scopes: Scope) -> Client:
    _, secret = create_api_token(member, name="t", scopes=list(scopes), days=1, origin=Origin())
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def call(client: Client, method: str, url: str, body: Any = None, status: int = 200) -> Any:
    response = getattr(client, method)(f"{API}{url}", body, content_type="application/json")
    assert response.status_code == status, response.content
    return response.json() if response.content else None


def test_labels_are_created_listed_renamed_and_deleted_with_string_ids(owner: Membership) -> None:
    client = client_for(owner, Scope.LABELS_WRITE, Scope.CONVERSATIONS_READ)
    created = call(client, "post", "/labels", {"name": " billing "}, 201)
    assert created["name"] == "billing" and isinstance(created["id"], str)
    assert call(client, "post", "/labels", {"name": "BILLING"}, 400)["detail"].startswith("There is already")
    assert call(client, "post", "/labels", {"name": "x" * 41}, 400)["detail"].startswith("A label name")
    assert call(client, "post", "/labels", {}, 422)["detail"].startswith("Invalid request")
    renamed = call(client, "patch", f"/labels/{created['id']}", {"name": "invoices"})
    assert renamed == {**created, "name": "invoices"}
    assert [label["name"] for label in call(client, "get", "/labels")] == ["invoices"]
    assert call(client, "delete", f"/labels/{created['id']}", status=204) is None
    assert call(client, "delete", f"/labels/{created['id']}", status=404) == {"detail": "No such label."}
    actions = (
        AuditEvent.objects.filter(target_kind="label")
        .order_by("seq", "pk")
        .values_list("action", "actor_kind")
    )
    assert list(actions) == [
        ("label.created", "token"),
        ("label.renamed", "token"),
        ("label.deleted", "token"),
    ]


def test_writing_labels_needs_its_scope_and_a_manager(owner: Membership) -> None:
    assert call(client_for(owner, Scope.CONVERSATIONS_READ), "post", "/labels", {"name": "x"}, 403)
    agent = add_member(owner.workspace, role=Role.AGENT)
    with pytest.raises(AccountError):
        create_api_token(agent, name="t", scopes=[Scope.LABELS_WRITE], days=1, origin=Origin())
    assert not Scope.TRANSCRIPTS_EXPORT.allowed_for(Role.AGENT) and Scope.TRANSCRIPTS_EXPORT.allowed_for(
        Role.COMPLIANCE
    )
    assert not Label.objects.exists()


def test_labels_go_on_and_off_a_conversation_and_filter_the_list(
    owner: Membership, conversation: Conversation
) -> None:
    label = work.create_label(owner.workspace_id, "vip", actor=SYSTEM, origin=Origin())
    other = make_conversation(Channel.objects.get(pk=conversation.channel_id))
    client = client_for(owner, Scope.CONVERSATIONS_WRITE, Scope.CONVERSATIONS_READ)
    on = call(client, "post", f"/conversations/{conversation.pk}/labels", {"label_id": str(label.pk)})
    assert on == [{"id": str(label.pk), "name": "vip", "created_at": on[0]["created_at"]}]
    assert call(client, "post", f"/conversations/{conversation.pk}/labels", {"label_id": str(label.pk)}) == on
    for nonsense in ("12", "x", "-1", "9" * 30):
        call(client, "post", f"/conversations/{conversation.pk}/labels", {"label_id": nonsense}, 400)
    assert call(client, "get", f"/conversations/{conversation.pk}/labels") == on
    listed = call(client, "get", f"/conversations?label_id={label.pk}")["items"]
    assert [c["id"] for c in listed] == [str(conversation.pk)] and str(other.pk) not in str(listed)
    assert call(client, "get", "/conversations?label_id=77")["items"] == []
    assert call(client, "delete", f"/conversations/{conversation.pk}/labels/{label.pk}") == []
    assert not ConversationLabel.objects.exists()


def test_a_label_of_another_workspace_cannot_be_used(owner: Membership, conversation: Conversation) -> None:
    foreign = work.create_label(make_workspace().pk, "theirs", actor=SYSTEM, origin=Origin())
    client = client_for(owner, Scope.CONVERSATIONS_WRITE, Scope.LABELS_WRITE)
    call(client, "post", f"/conversations/{conversation.pk}/labels", {"label_id": str(foreign.pk)}, 400)
    call(client, "delete", f"/conversations/{conversation.pk}/labels/{foreign.pk}", status=404)
    call(client, "patch", f"/labels/{foreign.pk}", {"name": "mine"}, 404)
    call(client, "delete", f"/labels/{foreign.pk}", status=404)
    foreign.refresh_from_db()
    assert foreign.name == "theirs" and not ConversationLabel.objects.exists()


def test_a_transcript_is_exported_through_an_audited_read_and_not_cached(
    owner: Membership, conversation: Conversation
) -> None:
    client = client_for(owner, Scope.TRANSCRIPTS_EXPORT)
    response = client.get(f"{API}/conversations/{conversation.pk}/transcript")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    data = response.json()
    assert data["conversation_id"] == str(conversation.pk) and data["channel_id"] == str(
        conversation.channel_id
    )
    assert [(m["speaker"], m["text"]) for m in data["messages"]] == [("Customer", "Where is my order?")]
    reveal = AuditEvent.objects.get(action="crypto.reveal")
    assert reveal.actor_kind == "token" and reveal.details["purpose"] == "transcript"
    exported = AuditEvent.objects.get(action="conversation.transcript_exported")
    assert exported.actor_kind == "token" and exported.details == {"format": "json", "messages": 1}
    assert (
        client_for(owner, Scope.MESSAGES_READ)
        .get(f"{API}/conversations/{conversation.pk}/transcript")
        .status_code
        == 403
    )


def test_a_transcript_token_whose_creator_lost_the_right_gets_nothing(
    owner: Membership, conversation: Conversation
) -> None:
    officer = add_member(owner.workspace, role=Role.COMPLIANCE)
    client = client_for(officer, Scope.TRANSCRIPTS_EXPORT)
    Membership.objects.filter(pk=officer.pk).update(role=Role.AGENT)
    assert client.get(f"{API}/conversations/{conversation.pk}/transcript").status_code == 403
    assert not AuditEvent.objects.filter(action="conversation.transcript_exported").exists()


def test_round_robin_is_set_over_the_api(owner: Membership, conversation: Conversation) -> None:
    channel_id = conversation.channel_id
    client = client_for(owner, Scope.CHANNELS_WRITE, Scope.CHANNELS_READ)
    assert call(client, "put", f"/channels/{channel_id}/auto-assign", {"enabled": True}) == {
        "channel_id": str(channel_id), "auto_assign": True,
    }  # fmt: skip
    assert call(client, "get", f"/channels/{channel_id}")["auto_assign"] is True
    call(client, "put", f"/channels/{channel_id}/auto-assign", {"enabled": "perhaps"}, 422)
    call(client, "put", "/channels/42/auto-assign", {"enabled": False}, 404)
    assert Channel.objects.get(pk=channel_id).auto_assign
    assert make_conversation(Channel.objects.get(pk=channel_id)).assignee_id == owner.user_id
    call(
        client_for(owner, Scope.CHANNELS_READ),
        "put",
        f"/channels/{channel_id}/auto-assign",
        {"enabled": False},
        403,
    )


def test_read_receipts_are_switched_over_the_api_and_audited(
    owner: Membership, conversation: Conversation
) -> None:
    channel_id = conversation.channel_id
    client = client_for(owner, Scope.CHANNELS_WRITE, Scope.CHANNELS_READ)
    assert call(client, "get", f"/channels/{channel_id}")["send_read_receipts"] is True  # on by default
    assert call(client, "put", f"/channels/{channel_id}/read-receipts", {"enabled": False}) == {
        "channel_id": str(channel_id), "send_read_receipts": False,
    }  # fmt: skip
    assert call(client, "get", f"/channels/{channel_id}")["send_read_receipts"] is False
    call(client, "put", f"/channels/{channel_id}/read-receipts", {"enabled": "perhaps"}, 422)
    call(client, "put", "/channels/42/read-receipts", {"enabled": True}, 404)
    reader = client_for(owner, Scope.CHANNELS_READ)
    call(reader, "put", f"/channels/{channel_id}/read-receipts", {"enabled": True}, 403)
    assert not Channel.objects.get(pk=channel_id).send_read_receipts
    changed = AuditEvent.objects.get(action="channel.read_receipts_changed")
    assert changed.actor_kind == "token" and changed.details == {"enabled": False}
