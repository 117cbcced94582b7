"""A blocked number gets nothing: every send is refused in words; rows queued before the block stay unsent."""

from __future__ import annotations

import pytest

from chatrk.audit.actions import Actor
from chatrk.core.roles import Perm, Role
from chatrk.inbox.blocking import BLOCKED_BEFORE_SENDING, block_contact, unblock_contact
from chatrk.inbox.models import Contact
from chatrk.outbound import buckets
from chatrk.outbound.actions import do_enqueue
from chatrk.outbound.errors import SendRefused
from chatrk.outbound.gates import SendRequest, TemplateRef, check_send
from chatrk.outbound.models import OutboxItem
from chatrk.outbound.sender import Sender
from chatrk.outbound.tests.conftest import World
from chatrk.whatsapp.messages import TextMessage
from emulator.testing import EmulatorServer

pytestmark = pytest.mark.django_db


def test_a_reply_to_a_blocked_number_is_refused_in_words_and_nothing_is_queued(world: World) -> None:
    conversation = world.conversation()
    # The conversation's contact was loaded before the block: the gate must not trust that copy.
    block_contact(conversation.contact, actor=Actor.user(world.owner.user_id))
    assert conversation.contact.blocked_at is None
    with pytest.raises(SendRefused) as refused:
        do_enqueue(world.by(), conversation, TextMessage("Your order shipped"))
    assert [r.code for r in refused.value.decision.refusals] == ["contact_blocked"]
    assert "blocked" in refused.value.decision.reason and "Unblock" in refused.value.decision.reason
    assert not OutboxItem.objects.exists()


def test_templates_and_campaign_sends_skip_a_blocked_number(world: World) -> None:
    conversation = world.conversation()
    block_contact(conversation.contact, actor=Actor.user(world.owner.user_id))
    campaign = SendRequest(
        world.workspace_id, Role.MARKETER, conversation, "template",
        template=TemplateRef("order_update", "en_US", "UTILITY"), permission=Perm.MANAGE_CAMPAIGNS,
    )  # fmt: skip
    assert [r.code for r in check_send(campaign).refusals] == ["contact_blocked"]


def test_unblocking_lets_replies_through_again(world: World) -> None:
    conversation = world.conversation()
    contact = block_contact(conversation.contact, actor=Actor.user(world.owner.user_id))
    unblock_contact(contact, actor=Actor.user(world.owner.user_id))
    assert do_enqueue(world.by(), conversation, TextMessage("Your order shipped")).item.pk


def test_a_row_queued_before_the_block_is_failed_not_sent(world: World, emulator: EmulatorServer) -> None:
    conversation = world.conversation()
    item = do_enqueue(world.by(), conversation, TextMessage("Your order A-77 shipped")).item
    block_contact(Contact.objects.get(pk=conversation.contact_id), actor=Actor.user(world.owner.user_id))
    result = Sender(store=buckets.DatabaseBuckets(), concurrency=1).run_once()
    item.refresh_from_db()
    assert (result.sent, result.failed) == (0, 1)
    assert item.state == OutboxItem.State.FAILED and item.last_error_reason == BLOCKED_BEFORE_SENDING
    assert not emulator.emulator.messages  # nothing reached WhatsApp
