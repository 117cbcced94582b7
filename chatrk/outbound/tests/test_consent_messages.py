"""The messages consent owes, sent through the real outbox against the emulator: one opt-out confirmation
per revocation (queued by the drain), the double opt-in request (queued by the periodic task, consent
only on the YES that answers it), and 131050 revoking marketing whether it comes back at once or as a
failed status."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from chatrk.audit.actions import Actor
from chatrk.audit.models import AuditEvent
from chatrk.consent import actions as consent
from chatrk.consent.gate import check_consent
from chatrk.consent.models import ConsentEvent, DoubleOptIn, OptOutConfirmation, Source
from chatrk.consent.tasks import send_consent_messages
from chatrk.consent.tests.helpers import grant
from chatrk.core.clock import now
from chatrk.inbox.actions import contact_for
from chatrk.inbox.models import Contact, Message
from chatrk.ingest.actions import drain
from chatrk.msgtemplates.testing import make_template
from chatrk.outbound import actions, client, system
from chatrk.outbound.actions import do_enqueue
from chatrk.outbound.models import OutboxItem
from chatrk.outbound.sender import Sender
from chatrk.outbound.tests.conftest import World, customer_number
from chatrk.whatsapp.messages import TemplateMessage
from emulator.config import DEFAULT_APP_SECRET, default_config
from emulator.testing import EmulatorServer, WebhookReceiver

WABA = "102290129340398"
REPLY = "Acme Shoes: you are unsubscribed. Reply START to subscribe again."


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    config = default_config().with_behaviour(time_scale=0.0)
    with EmulatorServer(config, receiver=WebhookReceiver(app_secret=DEFAULT_APP_SECRET)) as running:
        client.use_transport(running.transport)
        try:
            yield running
        finally:
            client.use_transport(None)


def deliver(server: EmulatorServer, world: World) -> None:
    """Forwards every webhook the emulator sent, signed, to our endpoint, then drains."""
    server.settle()
    assert server.receiver is not None
    for webhook in server.receiver.received:
        response = Client().post(
            f"/webhooks/whatsapp/{world.channel.webhook_key}",
            webhook.body,
            content_type="application/json",
            headers={"X-Hub-Signature-256": webhook.signature or ""},
        )
        assert response.status_code == 200
    server.receiver.received.clear()
    drain()


def send_all() -> None:
    Sender(batch=50, concurrency=1, idle_sleep=0.0).run_once()


def emulator_template(server: EmulatorServer, name: str, category: str, text: str) -> None:
    created = server.graph_client().post(
        f"/{WABA}/message_templates",
        json={"name": name, "language": "en_US", "category": category,
              "components": [{"type": "BODY", "text": text}]},
    )  # fmt: skip
    assert created.status_code == 200, created.text
    server.control.review_now(created.json()["id"])


def store_template(world: World, name: str, category: str, text: str) -> None:
    make_template(world.owner.workspace, channel=world.channel, name=name, stage="live", category=category,
                  components=[{"type": "BODY", "text": text}])  # fmt: skip


def received_texts(server: EmulatorServer, wa_id: str) -> list[Any]:
    return [m.payload.get("body") for m in server.emulator.messages.values() if m.to == wa_id]


def set_consent_settings(world: World, text: str = REPLY) -> None:
    consent.update_settings(
        world.workspace_id,
        actor=Actor("system"),
        double_opt_in=True,
        confirmation_template="consent_confirmation",
        confirmation_language="en_US",
        opt_out_reply=text,
    )


# --- the opt-out confirmation ----------------------------------------------------------------------


def test_a_stop_gets_exactly_one_confirmation_in_the_workspaces_words(
    world: World, server: EmulatorServer
) -> None:
    set_consent_settings(world)
    number = customer_number()
    world.conversation(number)
    server.control.text(number, "STOP")
    deliver(server, world)
    row = OutboxItem.objects.get(system_ref__startswith=actions.OPT_OUT_CONFIRMATION_REF)
    assert row.consent_purpose == "" and row.state == OutboxItem.State.QUEUED
    contact = Contact.objects.get(pk=row.recipient_id)
    assert not check_consent(world.workspace_id, contact.pk, "marketing", window_open=True).allowed
    send_all()
    assert received_texts(server, number) == [REPLY]
    for again in ("STOP", "stop", "UNSUBSCRIBE"):  # repeated opt-outs owe nothing more
        server.control.text(number, again)
    deliver(server, world)
    send_all()
    assert received_texts(server, number) == [REPLY]
    assert OutboxItem.objects.filter(system_ref__startswith=actions.OPT_OUT_CONFIRMATION_REF).count() == 1


def test_an_agent_reply_after_the_stop_is_still_refused(world: World, server: EmulatorServer) -> None:
    from chatrk.outbound.errors import SendRefused
    from chatrk.whatsapp.messages import TextMessage

    number = customer_number()
    conversation = world.conversation(number)
    server.control.text(number, "STOP")
    deliver(server, world)
    with pytest.raises(SendRefused) as refused:
        do_enqueue(world.by(), conversation, TextMessage("Sorry to see you go, here's 10% off"))
    assert [r.code for r in refused.value.decision.refusals] == ["no_consent"]


def test_a_blocked_contact_gets_no_confirmation_and_the_refusal_is_recorded(world: World) -> None:
    conversation = world.conversation()
    Contact.objects.filter(pk=conversation.contact_id).update(blocked_at=now())
    consent.apply_inbound_reply(world.workspace_id, conversation.contact_id, wamid="w1", received_at=now(),
                                text="STOP")  # fmt: skip
    assert system.send_opt_out_confirmation(world.workspace_id, conversation.contact_id) is None
    assert not OutboxItem.objects.exists()
    event = AuditEvent.objects.get(action="consent.opt_out_confirmation.not_sent")
    assert event.reason == "contact_blocked"
    assert system.send_opt_out_confirmation(world.workspace_id, conversation.contact_id) is None  # spent


def test_a_failing_confirmation_never_undoes_the_opt_out_and_is_sent_later(
    world: World, server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = customer_number()
    world.conversation(number)

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(system, "enqueue_system_message", broken)
    server.control.text(number, "STOP")
    deliver(server, world)
    contact = Contact.objects.get(pk=Message.objects.get(direction=Message.Direction.INBOUND).contact_id)
    assert not check_consent(world.workspace_id, contact.pk, "marketing", window_open=True).allowed
    assert OptOutConfirmation.objects.get(contact=contact).claimed_at is None  # still owed
    monkeypatch.undo()
    send_consent_messages.call()
    send_all()
    assert received_texts(server, number) == [consent.settings_for(world.workspace_id).opt_out_reply]


# --- double opt-in ---------------------------------------------------------------------------------


CONFIRM_TEXT = "Reply YES to get offers and order updates from Acme Shoes on WhatsApp."


def test_double_opt_in_request_goes_out_and_only_the_yes_to_it_confirms(
    world: World, server: EmulatorServer
) -> None:
    emulator_template(server, "consent_confirmation", "UTILITY", CONFIRM_TEXT)
    store_template(world, "consent_confirmation", "UTILITY", CONFIRM_TEXT)
    set_consent_settings(world)
    number = customer_number()
    contact = contact_for(world.workspace_id, number)
    grant(world.owner.workspace, contact, ("marketing",), source=Source.WEB_FORM)  # pending: double opt-in
    assert not check_consent(world.workspace_id, contact.pk, "marketing", window_open=False).allowed
    send_consent_messages.call()
    row = OutboxItem.objects.get(system_ref__startswith=actions.DOUBLE_OPT_IN_REF)
    assert row.recipient_id == contact.pk and row.consent_purpose == ""
    send_consent_messages.call()  # claimed once: a second run queues nothing
    assert OutboxItem.objects.count() == 1
    server.control.text(number, "YES")  # before WhatsApp accepted the request: not the answer to it
    deliver(server, world)
    assert not check_consent(world.workspace_id, contact.pk, "marketing", window_open=False).allowed
    send_all()
    row.refresh_from_db()
    assert row.state == OutboxItem.State.SENT
    assert DoubleOptIn.objects.get(contact=contact).sent_wamid == row.wamid
    server.control.text(number, "YES")
    deliver(server, world)
    assert check_consent(world.workspace_id, contact.pk, "marketing", window_open=False).allowed
    confirm = ConsentEvent.objects.get(contact=contact, kind="confirm")
    assert confirm.evidence_wamid.startswith("wamid.")


def test_a_double_opt_in_request_that_cannot_be_sent_is_recorded(world: World) -> None:
    contact = contact_for(world.workspace_id, customer_number())
    grant(world.owner.workspace, contact, ("utility",), source=Source.IMPORT)
    send_consent_messages.call()  # no approved "consent_confirmation" template in this workspace
    request = DoubleOptIn.objects.get(contact=contact)
    assert request.send_failure and "template" in request.send_failure.lower()
    assert not OutboxItem.objects.exists()
    assert AuditEvent.objects.filter(action="consent.double_opt_in.failed").count() == 1
    assert not check_consent(world.workspace_id, contact.pk, "utility", window_open=False).allowed


def test_a_request_whatsapp_refuses_is_recorded_as_failed(world: World, server: EmulatorServer) -> None:
    store_template(world, "consent_confirmation", "UTILITY", CONFIRM_TEXT)  # approved here, unknown to Meta
    set_consent_settings(world)
    contact = contact_for(world.workspace_id, customer_number())
    grant(world.owner.workspace, contact, ("utility",), source=Source.API)
    send_consent_messages.call()
    send_all()
    request = DoubleOptIn.objects.get(contact=contact)
    assert request.sent_wamid == "" and request.send_failure
    assert AuditEvent.objects.filter(action="consent.double_opt_in.failed").count() == 1


# --- 131050 ---------------------------------------------------------------------------------------

SALE = "Spring sale at Acme Shoes: 20% off all trainers this week."


def test_131050_in_a_failed_status_revokes_marketing(world: World, server: EmulatorServer) -> None:
    emulator_template(server, "spring_sale", "MARKETING", SALE)
    store_template(world, "spring_sale", "MARKETING", SALE)
    number = customer_number()
    conversation = world.conversation(number)
    # The customer stopped marketing in WhatsApp; Chatrk never got the user_preferences webhook.
    server.control.marketing_preference(number, "stop")
    server.settle()
    assert server.receiver is not None
    server.receiver.received.clear()
    assert check_consent(world.workspace_id, conversation.contact_id, "marketing", window_open=False).allowed
    item = do_enqueue(world.by(), conversation, TemplateMessage("spring_sale", "en_US")).item
    send_all()
    server.advance(5)
    deliver(server, world)
    message = Message.objects.get(pk=item.message_id)
    assert message.status == Message.Status.FAILED and message.error_code == 131050
    decision = check_consent(world.workspace_id, conversation.contact_id, "marketing", window_open=False)
    assert decision.reason == "marketing consent revoked"
    event = ConsentEvent.objects.get(contact_id=conversation.contact_id, kind="revoke")
    assert (event.source, event.error_code) == (Source.SEND_ERROR, 131050)


def test_131050_in_the_send_answer_revokes_marketing(world: World) -> None:
    conversation = world.conversation()
    item = do_enqueue(world.by(), conversation, TemplateMessage("order_update", "en_US")).item
    claimed = actions.claim_due("w1", limit=5, lease=timedelta(seconds=30))
    assert actions.mark_sending("w1", [i.pk for i in claimed], lease=timedelta(seconds=30)) == {item.pk}
    refused = actions.Failed(item.pk, None, "The customer stopped marketing messages.", code=131050)
    actions.record_outcomes("w1", [refused])
    item.refresh_from_db()
    assert item.state == OutboxItem.State.FAILED
    assert not check_consent(
        world.workspace_id, conversation.contact_id, "marketing", window_open=True
    ).allowed
    assert check_consent(world.workspace_id, conversation.contact_id, "utility", window_open=True).allowed
