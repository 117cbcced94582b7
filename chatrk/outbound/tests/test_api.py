"""The sending API: every kind of message, Idempotency-Key, scopes, other workspaces, retry, mark read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from chatrk.accounts.actions import create_api_token
from chatrk.accounts.scopes import Scope
from chatrk.audit.actions import Origin
from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.inbox.models import Conversation, Message
from chatrk.outbound import buckets
from chatrk.outbound.models import OutboxItem
from chatrk.outbound.sender import Sender
from chatrk.outbound.tests.conftest import World, make_world
from chatrk.testing import add_member
from emulator.testing import EmulatorServer

pytestmark = pytest.mark.django_db

BASE = "/api/v1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def api_client(world: World, scopes: list[Scope] | None = None, role: Role = Role.OWNER) -> Client:
    member = world.owner if role == Role.OWNER else add_member(world.owner.workspace, role=role)
    _, secret = create_api_token(
        member, name="integration", scopes=scopes or [Scope.MESSAGES_WRITE], days=30, origin=Origin()
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def post(client: Client, path: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(f"{BASE}{path}", body, content_type="application/json", headers=headers)


def test_send_text_queues_a_message(world: World) -> None:
    conversation = world.conversation()
    response = post(api_client(world), f"/conversations/{conversation.pk}/messages/text", {"body": "Hi!"})
    assert response.status_code == 202, response.content
    data = response.json()
    assert data["status"] == "queued" and data["outbox_state"] == "queued" and not data["replayed"]
    assert Message.objects.get(pk=data["message_id"]).conversation_id == conversation.pk


def test_ids_are_strings_both_ways(world: World) -> None:
    """64-bit ids do not fit JavaScript's numbers: answered as strings, and taken as strings."""
    client, conversation = api_client(world), world.conversation()
    sent = post(client, f"/conversations/{conversation.pk}/messages/text", {"body": "Hi!"}).json()
    assert all(isinstance(sent[name], str) for name in ("message_id", "conversation_id", "outbox_id"))
    assert sent["conversation_id"] == str(conversation.pk)
    reply = {"body": "And?", "reply_to_message_id": str(inbound(conversation).pk)}
    replied = post(client, f"/conversations/{conversation.pk}/messages/text", reply)
    assert replied.status_code == 202, replied.content
    malformed = {"body": "?", "reply_to_message_id": "12ab"}
    assert post(client, f"/conversations/{conversation.pk}/messages/text", malformed).status_code == 422


def test_idempotency_key_replays_and_conflicts(world: World) -> None:
    client, conversation = api_client(world), world.conversation()
    path = f"/conversations/{conversation.pk}/messages/text"
    first = post(client, path, {"body": "once"}, **{"Idempotency-Key": "order-42"})
    again = post(client, path, {"body": "once"}, **{"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 202
    assert again.json()["replayed"] and again.json()["message_id"] == first.json()["message_id"]
    other = post(client, path, {"body": "twice"}, **{"Idempotency-Key": "order-42"})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    assert OutboxItem.objects.count() == 1


def test_outside_the_window_free_text_is_refused_with_reasons(world: World) -> None:
    conversation = world.conversation(inbound_at=now() - timedelta(days=3))
    response = post(api_client(world), f"/conversations/{conversation.pk}/messages/text", {"body": "Hi"})
    assert response.status_code == 422
    assert response.json()["code"] == "send_refused" and "24 hours" in response.json()["reasons"][0]
    template = post(
        api_client(world),
        f"/conversations/{conversation.pk}/messages/template",
        {"name": "order_update", "language": "en_US", "body_parameters": [{"text": "A-1"}],
         "quick_replies": [{"index": 0, "payload": "STOP"}]},
    )  # fmt: skip
    assert template.status_code == 202, template.content


@pytest.mark.parametrize(
    "body",
    [
        {"type": "button", "body": "Pick",
         "buttons": [{"id": "y", "title": "Yes"}, {"id": "n", "title": "No"}]},
        {"type": "list", "body": "Menu", "button": "Open",
         "sections": [{"title": "Sizes", "rows": [{"id": "s", "title": "Small"}]}]},
        {"type": "cta_url", "body": "Track", "display_text": "Track", "url": "https://example.org/t"},
    ],
)  # fmt: skip
def test_send_interactive(world: World, body: dict[str, Any]) -> None:
    response = post(api_client(world), f"/conversations/{world.conversation().pk}/messages/interactive", body)
    assert response.status_code == 202, response.content


def test_an_invalid_interactive_message_is_a_422(world: World) -> None:
    body = {
        "type": "button",
        "body": "Pick",
        "buttons": [{"id": "y", "title": "Yes"}, {"id": "y", "title": "Yes"}],
    }
    response = post(api_client(world), f"/conversations/{world.conversation().pk}/messages/interactive", body)
    assert response.status_code == 422


def inbound(conversation: Conversation, wamid: str = "wamid.IN1") -> Message:
    message = Message(
        workspace_id=conversation.workspace_id, conversation=conversation, contact_id=conversation.contact_id,
        channel_id=conversation.channel_id, direction=Message.Direction.INBOUND, kind="text", wamid=wamid,
        status=Message.Status.RECEIVED, created_at=now(),
    )  # fmt: skip
    message.body = "hello"
    message.save()
    return message


def test_send_reaction_to_a_message_in_the_conversation(world: World) -> None:
    conversation = world.conversation()
    target = inbound(conversation)
    response = post(
        api_client(world), f"/conversations/{conversation.pk}/messages/reaction",
        {"message_id": target.pk, "emoji": "👍"},
    )  # fmt: skip
    assert response.status_code == 202, response.content
    elsewhere = world.conversation()
    response = post(
        api_client(world),
        f"/conversations/{elsewhere.pk}/messages/reaction",
        {"message_id": target.pk, "emoji": "👍"},
    )
    assert response.status_code == 422


def test_send_media_by_upload(world: World, emulator: EmulatorServer) -> None:
    conversation = world.conversation()
    response = api_client(world).post(
        f"{BASE}/conversations/{conversation.pk}/messages/media",
        {
            "file": SimpleUploadedFile("r.png", PNG, content_type="image/png"),
            "kind": "image",
            "caption": "receipt",
        },
    )
    assert response.status_code == 202, response.content
    assert Sender(store=buckets.DatabaseBuckets()).run_once().sent == 1
    item = OutboxItem.objects.get()
    assert "id" in emulator.emulator.messages[item.wamid].payload


def test_a_file_type_whatsapp_refuses_is_a_422(world: World) -> None:
    response = api_client(world).post(
        f"{BASE}/conversations/{world.conversation().pk}/messages/media",
        {
            "file": SimpleUploadedFile("x.exe", b"MZ", content_type="application/x-msdownload"),
            "kind": "document",
        },
    )
    assert response.status_code == 422


def test_without_the_scope_or_role_nothing_is_sent(world: World) -> None:
    conversation = world.conversation()
    path = f"/conversations/{conversation.pk}/messages/text"
    assert post(api_client(world, [Scope.WORKSPACE_READ]), path, {"body": "x"}).status_code == 403
    assert post(Client(), path, {"body": "x"}).status_code == 401
    assert not OutboxItem.objects.exists()


def test_another_workspace_gets_404(world: World) -> None:
    other = make_world("999000111")
    conversation = world.conversation()
    target = inbound(conversation)
    client = api_client(other)
    assert post(client, f"/conversations/{conversation.pk}/messages/text", {"body": "x"}).status_code == 404
    assert post(client, f"/messages/{target.pk}/read", {}).status_code == 404
    assert post(client, f"/messages/{target.pk}/retry", {}).status_code == 404


def test_retry_failed_and_mark_read(world: World, emulator: EmulatorServer) -> None:
    conversation = world.conversation()
    client = api_client(world)
    from chatrk.msgtemplates.testing import make_template

    # Approved in Chatrk, unknown to WhatsApp: Meta's 132001 fails it, and a retry really re-sends.
    make_template(world.owner.workspace, channel=world.channel, name="retired_offer", stage="live")
    queued = post(
        client,
        f"/conversations/{conversation.pk}/messages/template",
        {"name": "retired_offer", "language": "en_US"},
    )
    message_id = queued.json()["message_id"]
    assert post(client, f"/messages/{message_id}/retry", {}).status_code == 409  # not failed yet
    Sender(store=buckets.DatabaseBuckets()).run_once()
    assert Message.objects.get(pk=message_id).status == Message.Status.FAILED
    retried = post(client, f"/messages/{message_id}/retry", {})
    assert retried.status_code == 202 and retried.json()["attempt"] == 2
    assert AuditEvent.objects.filter(action="message.retried").count() == 1

    customer = emulator.control.text("16505550001", "hello")
    target = inbound(world.conversation("16505550001"), wamid=customer.get("id", "wamid.X"))
    response = post(client, f"/messages/{target.pk}/read", {})
    assert response.status_code in {204, 409}
    assert post(client, f"/messages/{message_id}/read", {}).status_code == 409  # ours: nothing to mark
