"""Messages the content policy holds: stored held (never claimed), linked to the review queue in the same
transaction, sent by the normal sender once released, failed with a plain reason when rejected — and a
STOP that comes while the message waits always wins."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied

from chatrk.audit.actions import Actor
from chatrk.audit.models import AuditEvent
from chatrk.consent.actions import apply_inbound_reply
from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.inbox.models import Conversation, Message
from chatrk.outbound import actions
from chatrk.outbound.actions import do_enqueue, retry_failed
from chatrk.outbound.errors import SendRefused
from chatrk.outbound.models import OutboxItem
from chatrk.outbound.sender import Sender
from chatrk.outbound.tests.conftest import World, make_world
from chatrk.outbound.tests.test_api import api_client, post
from chatrk.policy.actions import Reviewer, reject, release
from chatrk.policy.errors import PolicyError
from chatrk.policy.models import HeldItem, HeldKind, HeldStatus
from chatrk.testing import add_member, make_user
from chatrk.whatsapp.messages import TextMessage
from emulator.testing import EmulatorServer

DOUBTFUL = "Our sale: https://bit.ly/abc"  # a URL shortener: the policy holds it for review


def reviewer(world: World, role: str = Role.OWNER) -> Reviewer:
    return Reviewer(world.workspace_id, world.owner.user_id, role, Actor.user(world.owner.user_id))


def held(world: World, conversation: Conversation | None = None) -> actions.Enqueued:
    result = do_enqueue(world.by(), conversation or world.conversation(), TextMessage(DOUBTFUL))
    assert result.held
    return result


def review_item(item: OutboxItem) -> HeldItem:
    return HeldItem.objects.get(workspace_id=item.workspace_id, kind=HeldKind.MESSAGE, ref_id=item.pk)


def sender() -> Sender:
    return Sender(batch=50, concurrency=1, idle_sleep=0.0)


def state_of(result: actions.Enqueued) -> tuple[str, str]:
    result.item.refresh_from_db()
    return result.item.state, Message.objects.get(pk=result.message.pk).status


def test_a_hold_stores_the_message_held_and_links_the_review_item(world: World) -> None:
    result = held(world)
    assert (result.item.state, result.message.status) == ("held", "held")
    assert "review queue" in result.hold_reason and DOUBTFUL not in result.hold_reason
    item = review_item(result.item)
    assert result.review_id == item.pk and item.status == HeldStatus.HELD
    assert item.contact_id == result.item.recipient_id
    assert AuditEvent.objects.filter(action="message.held", target_id=str(result.message.pk)).exists()
    assert actions.claim_due("w", limit=10, lease=timedelta(seconds=30)) == []  # never claimed


def test_a_blocked_message_is_still_refused_and_writes_nothing(world: World) -> None:
    with pytest.raises(SendRefused):
        do_enqueue(world.by(), world.conversation(), TextMessage("Cheap cocaine, discreet delivery tonight"))
    assert not OutboxItem.objects.exists() and not HeldItem.objects.exists()


def test_a_hold_and_another_refusal_is_a_refusal(world: World) -> None:
    closed = world.conversation(inbound_at=now() - timedelta(days=2))
    with pytest.raises(SendRefused) as refused:
        do_enqueue(world.by(), closed, TextMessage(DOUBTFUL))
    assert {r.code for r in refused.value.decision.refusals} == {"window_closed", "content_held"}
    assert not OutboxItem.objects.exists() and not HeldItem.objects.exists()


def test_released_message_is_sent_once_by_the_normal_sender(world: World, emulator: EmulatorServer) -> None:
    result = held(world)
    assert sender().run_once().claimed == 0
    release(reviewer(world), review_item(result.item).pk)
    assert state_of(result) == ("queued", "queued")
    assert AuditEvent.objects.filter(action="message.released").count() == 1
    assert sender().run_once().sent == 1
    assert state_of(result) == ("sent", "sent")
    assert emulator.emulator.messages[result.item.wamid].payload["body"] == DOUBTFUL
    with pytest.raises(PolicyError):  # a second release changes nothing and sends nothing
        release(reviewer(world), review_item(result.item).pk)
    assert sender().run_once().claimed == 0 and len(emulator.emulator.messages) == 1


def test_rejected_message_fails_with_a_plain_reason(world: World, emulator: EmulatorServer) -> None:
    result = held(world)
    reject(reviewer(world), review_item(result.item).pk, comment="not our tone")
    assert state_of(result) == ("failed", "failed")
    assert result.item.last_error_reason == actions.REJECTED_IN_REVIEW
    assert Message.objects.get(pk=result.message.pk).error_title == actions.REJECTED_IN_REVIEW
    assert sender().run_once().claimed == 0 and not emulator.emulator.messages


def test_a_stop_between_hold_and_release_wins(world: World, emulator: EmulatorServer) -> None:
    result = held(world)
    apply_inbound_reply(world.workspace_id, result.item.recipient_id, wamid="w.stop", received_at=now(),
                        text="STOP")  # fmt: skip
    release(reviewer(world), review_item(result.item).pk)
    assert state_of(result) == ("failed", "failed")
    assert "opted out" in result.item.last_error_reason
    assert sender().run_once().claimed == 0 and not emulator.emulator.messages


def test_a_stop_between_release_and_send_wins_at_send_time(world: World, emulator: EmulatorServer) -> None:
    result = held(world)
    release(reviewer(world), review_item(result.item).pk)
    apply_inbound_reply(world.workspace_id, result.item.recipient_id, wamid="w.stop", received_at=now(),
                        text="stop")  # fmt: skip
    assert sender().run_once().failed == 1
    assert state_of(result) == ("failed", "failed")
    assert "after it was queued" in result.item.last_error_reason
    assert not emulator.emulator.messages


def test_a_release_after_the_window_closed_fails_without_calling_whatsapp(
    world: World, emulator: EmulatorServer
) -> None:
    result = held(world)
    with time_machine.travel(now() + timedelta(hours=25)):
        release(reviewer(world), review_item(result.item).pk)
        assert sender().run_once().claimed == 0
    assert state_of(result) == ("failed", "failed")
    assert "24 hours" in result.item.last_error_reason
    assert not emulator.emulator.messages


def test_a_held_row_counts_its_24_hours_from_the_release(world: World) -> None:
    result = held(world)
    with time_machine.travel(now() + timedelta(hours=30)):
        assert actions.reap_expired() == 0  # held rows wait for review, they do not expire
        conversation = Conversation.objects.get(pk=result.message.conversation_id)
        conversation.last_inbound_at = now()  # the customer wrote again: the window is open
        conversation.save(update_fields=["last_inbound_at"])
        release(reviewer(world), review_item(result.item).pk)
        assert actions.reap_expired() == 0
    assert state_of(result) == ("queued", "queued")


def test_another_workspace_cannot_release_or_reject(world: World) -> None:
    result = held(world)
    other = make_world("106540352242999")
    intruder = reviewer(other)
    for decide in (release, reject):
        with pytest.raises(PolicyError):
            decide(intruder, review_item(result.item).pk)
    assert (
        actions.apply_review(other.workspace_id, result.item.pk, released=True, actor=intruder.actor) is None
    )
    assert state_of(result) == ("held", "held")


def test_only_the_compliance_role_decides(world: World) -> None:
    result = held(world)
    agent = add_member(world.owner.workspace, make_user(name="Alex Agent"), Role.AGENT)
    with pytest.raises(PermissionDenied):
        release(Reviewer(world.workspace_id, agent.user_id, Role.AGENT, Actor.user(agent.user_id)),
                review_item(result.item).pk)  # fmt: skip
    assert state_of(result) == ("held", "held")


def test_retrying_a_rejected_message_holds_it_again(world: World) -> None:
    result = held(world)
    reject(reviewer(world), review_item(result.item).pk)
    again = retry_failed(world.by(), Message.objects.get(pk=result.message.pk))
    assert again.state == OutboxItem.State.HELD and again.attempt == 2
    assert Message.objects.get(pk=result.message.pk).status == Message.Status.HELD
    assert review_item(again).status == HeldStatus.HELD


def test_the_api_answers_202_held(world: World) -> None:
    conversation = world.conversation()
    response = post(api_client(world), f"/conversations/{conversation.pk}/messages/text", {"body": DOUBTFUL})
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["outbox_state"], body["held"]) == ("held", "held", True)
    assert "review queue" in body["hold_reason"]
