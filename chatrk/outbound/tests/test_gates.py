"""check_send: each gate answers Allow or Refuse; the pipeline fails closed; do_enqueue writes the
message and its outbox row together."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.inbox.models import Channel, Message
from chatrk.outbound import gates
from chatrk.outbound.actions import do_enqueue
from chatrk.outbound.errors import IdempotencyConflict, SendRefused
from chatrk.outbound.gates import Allow, Refuse, SendRequest, TemplateRef, check_send
from chatrk.outbound.models import OutboxItem
from chatrk.outbound.tests.conftest import World
from chatrk.whatsapp.messages import TemplateMessage, TextMessage

pytestmark = pytest.mark.django_db


def request(world: World, *, role: str = Role.AGENT, kind: str = "text", hours_ago: float = 1) -> SendRequest:
    conversation = world.conversation(inbound_at=now() - timedelta(hours=hours_ago))
    template = TemplateRef("order_update", "en_US") if kind == "template" else None
    return SendRequest(world.workspace_id, role, conversation, kind, template=template)


def test_free_form_inside_the_window_passes_every_gate(world: World) -> None:
    decision = check_send(request(world))
    assert decision.allowed
    assert [name for name, _ in decision.results] == [
        "permission", "training", "consent", "channel", "blocked", "window", "content_policy",
    ]  # fmt: skip
    hooks = {name: verdict.reason for name, verdict in decision.results}
    assert gates.NOT_ENFORCED in hooks["training"]  # the training issue fills it
    assert "Consent" in hooks["consent"] and "Content policy" in hooks["content_policy"]


def test_free_form_outside_the_window_is_refused_but_a_template_passes(world: World) -> None:
    decision = check_send(request(world, hours_ago=25))
    assert not decision.allowed
    assert [r.code for r in decision.refusals] == ["window_closed"]
    assert "24 hours" in decision.reason
    template = check_send(request(world, kind="template", hours_ago=25))
    assert template.allowed
    window = dict(template.results)["window"]
    assert "approved by your compliance officer and by WhatsApp" in window.reason


def test_a_template_not_approved_by_both_is_refused(world: World) -> None:
    conversation = world.conversation(inbound_at=now() - timedelta(days=2))
    unknown = SendRequest(
        world.workspace_id, Role.AGENT, conversation, "template", template=TemplateRef("nope", "en_US")
    )
    assert [r.code for r in check_send(unknown).refusals] == ["template_not_sendable"]


def test_a_customer_without_consent_gets_no_template(world: World) -> None:
    conversation = world.conversation(inbound_at=now() - timedelta(days=2), consent=False)
    request = SendRequest(
        world.workspace_id,
        Role.AGENT,
        conversation,
        "template",
        template=TemplateRef("order_update", "en_US"),
    )
    assert [r.code for r in check_send(request).refusals] == ["no_consent"]


def test_prohibited_text_is_blocked_and_doubtful_text_held(world: World) -> None:
    conversation = world.conversation()
    blocked = SendRequest(
        world.workspace_id, Role.AGENT, conversation, "text", text="Send me your full card number and CVV"
    )
    assert [r.code for r in check_send(blocked).refusals] in (["content_blocked"], ["content_held"])
    fine = SendRequest(
        world.workspace_id, Role.AGENT, conversation, "text", text="Your parcel arrives tomorrow."
    )
    assert check_send(fine).allowed


def test_a_conversation_the_customer_never_opened_takes_only_templates(world: World) -> None:
    conversation = world.conversation()
    conversation.last_inbound_at = None
    decision = check_send(SendRequest(world.workspace_id, Role.AGENT, conversation, "text"))
    assert [r.code for r in decision.refusals] == ["window_closed"]


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.MARKETER, "no-such-role"])
def test_roles_without_reply_permission_are_refused(world: World, role: str) -> None:
    assert [r.code for r in check_send(request(world, role=role)).refusals] == ["no_permission"]


def test_a_number_needing_reauthorisation_sends_nothing(world: World) -> None:
    Channel.objects.filter(pk=world.channel.pk).update(health=Channel.Health.REAUTHORISE)
    world.channel.refresh_from_db()
    assert [r.code for r in check_send(request(world)).refusals] == ["channel_reauthorise"]


def test_a_gate_that_raises_is_a_refusal(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: SendRequest) -> Allow:
        raise RuntimeError("consent store down")

    monkeypatch.setattr(gates, "GATES", [*gates.GATES[:2], ("consent", broken), *gates.GATES[3:]])
    decision = check_send(request(world))
    assert not decision.allowed
    assert decision.refusals == [Refuse("gate_error", decision.refusals[0].reason)]
    assert "consent check could not be completed" in decision.reason


def test_a_gate_returning_nonsense_is_a_refusal(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gates, "GATES", [*gates.GATES[:6], ("content_policy", lambda _: True)])
    assert [r.code for r in check_send(request(world)).refusals] == ["gate_error"]


def test_enqueue_writes_message_outbox_row_and_audit_event_together(world: World) -> None:
    conversation = world.conversation()
    result = do_enqueue(world.by(), conversation, TextMessage("Your order shipped"))
    message, item = result.message, result.item
    assert message.status == Message.Status.QUEUED and message.direction == Message.Direction.OUTBOUND
    assert item.state == OutboxItem.State.QUEUED and item.message_id == message.pk
    assert item.recipient_id == conversation.contact_id and item.attempt == 1
    assert AuditEvent.objects.filter(action="message.queued", target_id=str(message.pk)).exists()
    stored = Message.objects.get(pk=message.pk)
    assert b"Your order shipped" not in bytes(stored.body)  # encrypted at rest


def test_a_refused_send_writes_nothing_but_the_refusal(world: World) -> None:
    conversation = world.conversation(inbound_at=now() - timedelta(days=2))
    with pytest.raises(SendRefused) as refused:
        do_enqueue(world.by(), conversation, TextMessage("hello"))
    assert refused.value.decision.refusals[0].code == "window_closed"
    assert not Message.objects.exists() and not OutboxItem.objects.exists()
    assert AuditEvent.objects.get(action="message.send_refused").reason == "window_closed"


def test_a_template_goes_out_after_the_window(world: World) -> None:
    conversation = world.conversation(inbound_at=now() - timedelta(days=2))
    result = do_enqueue(world.by(), conversation, TemplateMessage("order_update", "en_US"))
    assert result.message.kind == "template"


def test_idempotency_key_replays_the_first_send_and_refuses_a_different_body(world: World) -> None:
    conversation = world.conversation()
    first = do_enqueue(
        world.by(), conversation, TextMessage("a"), idempotency_key="k1", request_fingerprint="f1"
    )
    again = do_enqueue(
        world.by(), conversation, TextMessage("a"), idempotency_key="k1", request_fingerprint="f1"
    )
    assert again.replayed and again.item.pk == first.item.pk
    assert OutboxItem.objects.count() == 1
    with pytest.raises(IdempotencyConflict):
        do_enqueue(world.by(), conversation, TextMessage("b"), idempotency_key="k1", request_fingerprint="f2")


def test_enqueueing_prohibited_text_is_refused_by_the_content_policy(world: World) -> None:
    conversation = world.conversation()
    with pytest.raises(SendRefused) as refused:
        do_enqueue(
            world.by(), conversation, TextMessage("Cheap cocaine and heroin, discreet delivery tonight")
        )
    assert [r.code for r in refused.value.decision.refusals] in (["content_blocked"], ["content_held"])
    assert not Message.objects.exists()
