"""Attacks from a blocked number: its messages never reach the inbox; our own sends' statuses still apply."""

from __future__ import annotations

import pytest

from chatrk.audit.actions import Actor
from chatrk.consent.models import ConsentEvent, Kind, Source
from chatrk.crypto.fields import open_for_system
from chatrk.inbox.actions import contact_for
from chatrk.inbox.blocking import block_contact, unblock_contact
from chatrk.inbox.models import Channel, Contact, Conversation, Media, Message
from chatrk.ingest.actions import drain
from chatrk.ingest.models import MediaFetch, RawEvent
from chatrk.ingest.tests.conftest import make_channel, post
from chatrk.ingest.tests.test_drain import envelope, image_message, status, text

pytestmark = pytest.mark.django_db

SPAMMER = "16505551234"  # the sender of ``text()`` and ``image_message()``


def blocked_channel() -> tuple[Channel, int]:
    channel = make_channel()
    contact = contact_for(channel.workspace_id, SPAMMER)
    block_contact(contact, actor=Actor.user(1))
    return channel, contact.pk


def test_a_blocked_number_writes_nothing_to_the_inbox() -> None:
    channel, _ = blocked_channel()
    before = Message.objects.count()
    assert post(channel, envelope(channel, messages=[text("wamid.spam1"), image_message("ab" * 32)])) == 200
    result = drain()
    assert (result.applied, result.dropped) == (1, 2)
    assert Message.objects.count() == before == 0
    assert (
        not Conversation.objects.exists() and not Media.objects.exists() and not MediaFetch.objects.exists()
    )
    assert not RawEvent.objects.exists()  # the raw event is deleted with its batch, as for any event


def test_the_same_number_in_another_form_is_still_blocked() -> None:
    channel = make_channel()
    # Stored in Mexico's old form (+52 1 …); WhatsApp now reports the current one.
    contact = contact_for(channel.workspace_id, "5215512345678")
    block_contact(contact, actor=Actor.user(1))
    post(channel, envelope(channel, messages=[text("wamid.mx", sender="525512345678")]))
    assert drain().dropped == 1 and not Message.objects.exists()


def test_others_in_the_same_batch_still_arrive() -> None:
    channel, _ = blocked_channel()
    post(channel, envelope(channel, messages=[text("wamid.spam"), text("wamid.ok", sender="16505559876")]))
    assert drain().dropped == 1
    assert list(Message.objects.values_list("wamid", flat=True)) == ["wamid.ok"]


def test_a_stored_message_cannot_be_edited_by_a_blocked_sender() -> None:
    channel = make_channel()
    post(channel, envelope(channel, messages=[text("wamid.orig", body="my order is 42")]))
    drain()
    block_contact(contact_for(channel.workspace_id, SPAMMER), actor=Actor.user(1))
    edit = {
        "from": SPAMMER, "id": "wamid.edit", "timestamp": "1760000100", "type": "edit",
        "edit": {"original_message_id": "wamid.orig", "message": {"type": "text", "text": {"body": "abuse"}}},
    }  # fmt: skip
    post(channel, envelope(channel, messages=[edit]))
    assert drain().dropped == 1
    message = Message.objects.get(wamid="wamid.orig")
    assert open_for_system(message, "body") == "my order is 42"


def test_statuses_of_our_earlier_sends_still_apply() -> None:
    channel = make_channel()
    post(channel, envelope(channel, messages=[text("wamid.in")]))
    drain()
    conversation = Conversation.objects.get()
    sent = Message.objects.create(
        workspace_id=channel.workspace_id, conversation=conversation, contact_id=conversation.contact_id,
        channel=channel, direction="out", kind="text", wamid="wamid.out", status="sent",
        created_at=conversation.created_at,
    )  # fmt: skip
    block_contact(conversation.contact, actor=Actor.user(1))
    post(channel, envelope(channel, statuses=[status("wamid.out", "delivered")]))
    drain()
    sent.refresh_from_db()
    assert sent.status == Message.Status.DELIVERED


def test_a_stop_from_a_blocked_number_still_revokes_consent_but_is_not_stored() -> None:
    channel, contact_id = blocked_channel()
    post(channel, envelope(channel, messages=[text("wamid.stop", body="STOP"), text("wamid.hi", body="hi")]))
    drain()
    assert not Message.objects.exists()
    revocations = ConsentEvent.objects.filter(contact_id=contact_id, kind=Kind.REVOKE)
    assert revocations.exists() and {e.source for e in revocations} == {Source.KEYWORD}
    assert {e.evidence_wamid for e in revocations} == {"wamid.stop"}
    assert {e.evidence_message_id for e in revocations} == {None}


def test_after_unblocking_new_messages_arrive_again() -> None:
    channel, _ = blocked_channel()
    post(channel, envelope(channel, messages=[text("wamid.a")]))
    drain()
    unblock_contact(Contact.objects.get(), actor=Actor.user(1))
    post(channel, envelope(channel, messages=[text("wamid.b")]))
    assert drain().dropped == 0
    assert list(Message.objects.values_list("wamid", flat=True)) == ["wamid.b"]
