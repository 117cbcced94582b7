"""Messages Chatrk sends on its own (docs/consent.md): the one reply after a keyword opt-out, and the
double opt-in request. Both go through the real outbox (``actions.enqueue_system_message``): the consent
gate is skipped — the first confirms the opt-out, the second asks for consent — but the number, the
contact, the 24-hour window (for the text) and the template's approval (for the request) still apply.
"""

from __future__ import annotations

import logging

from django.db import transaction

from chatrk.audit.actions import record
from chatrk.audit.models import Outcome
from chatrk.consent import actions as consent
from chatrk.inbox.actions import conversation_for
from chatrk.inbox.models import Channel, Contact, Conversation
from chatrk.outbound.actions import (
    DOUBLE_OPT_IN_REF,
    OPT_OUT_CONFIRMATION_REF,
    SYSTEM,
    Enqueued,
    enqueue_system_message,
)
from chatrk.outbound.errors import SendRefused
from chatrk.whatsapp.messages import InvalidRequest, TemplateMessage, TextMessage

logger = logging.getLogger(__name__)

NO_NUMBER = "No connected WhatsApp number to send the confirmation template from."


def _latest_conversation(workspace_id: int, contact_id: int) -> Conversation | None:
    """The conversation the customer last wrote in (where a STOP just arrived), else the newest one."""
    return (
        Conversation.objects.for_workspace(workspace_id)
        .filter(contact_id=contact_id)
        .select_related("channel", "contact")
        .order_by("-last_inbound_at", "-pk")
        .first()
    )


def send_opt_out_confirmation(workspace_id: int, contact_id: int) -> Enqueued | None:
    """Queues the workspace's opt-out reply if one is owed (claimed atomically: never twice for repeated
    STOPs or concurrent workers). A refusal (window closed, number unusable) is audited and not retried:
    the claim is spent either way. ``None`` when nothing was queued."""
    with transaction.atomic():
        change_id = consent.claim_opt_out_confirmation(workspace_id, contact_id)
        if change_id is None:
            return None
        conversation = _latest_conversation(workspace_id, contact_id)
        text = consent.settings_for(workspace_id).opt_out_reply
        try:
            if conversation is None:
                raise InvalidRequest("no conversation")
            return enqueue_system_message(
                conversation, TextMessage(text), system_ref=f"{OPT_OUT_CONFIRMATION_REF}{change_id}"
            )
        except (SendRefused, InvalidRequest) as error:
            codes = [r.code for r in error.decision.refusals] if isinstance(error, SendRefused) else []
            record(
                "consent.opt_out_confirmation.not_sent",
                actor=SYSTEM,
                workspace_id=workspace_id,
                target=("contact", contact_id),
                outcome=Outcome.FAILURE,
                reason=",".join(codes) or "no_conversation",
                details={"change_id": change_id},
            )
            return None


def confirm_opt_out_in_drain(workspace_id: int, contact_id: int) -> None:
    """For the ingest drainer, right after the STOP is in the ledger (same transaction). A failure here
    must not undo the opt-out: the savepoint rolls back only the confirmation, which stays owed and is
    sent by the periodic ``chatrk.consent.tasks.send_consent_messages``."""
    try:
        with transaction.atomic():
            send_opt_out_confirmation(workspace_id, contact_id)
    except Exception as error:  # the opt-out stands; the reply waits for the periodic task
        logger.warning("opt-out confirmation not queued in the drain: %s", type(error).__name__)


def _conversation_for_request(workspace_id: int, contact_id: int) -> Conversation | None:
    found = _latest_conversation(workspace_id, contact_id)
    if found is not None:
        return found
    channel = (
        Channel.objects.for_workspace(workspace_id)
        .exclude(health=Channel.Health.DISCONNECTED)
        .order_by("pk")
        .first()
    )
    if channel is None:
        return None
    contact = Contact.objects.for_workspace(workspace_id).get(pk=contact_id)
    conversation = conversation_for(channel, contact)
    return Conversation.objects.select_related("channel", "contact").get(pk=conversation.pk)


def send_double_opt_ins(workspace_id: int, *, limit: int = 100) -> int:
    """Claims the workspace's owed double opt-in requests and queues its confirmation template for
    each; a request that cannot be queued is recorded as failed on the request. Returns how many were
    queued. One transaction: a crash leaves every request owed, none half-claimed."""
    queued = 0
    with transaction.atomic():
        for due in consent.claim_double_opt_ins(workspace_id, limit=limit):
            conversation = _conversation_for_request(workspace_id, due.contact_id)
            if conversation is None:
                consent.double_opt_in_failed(workspace_id, due.change_id, reason=NO_NUMBER)
                continue
            try:
                enqueue_system_message(
                    conversation,
                    TemplateMessage(due.template, due.language),
                    system_ref=f"{DOUBLE_OPT_IN_REF}{due.change_id}",
                )
            except SendRefused as error:
                consent.double_opt_in_failed(workspace_id, due.change_id, reason=error.decision.reason)
                continue
            except InvalidRequest as error:
                consent.double_opt_in_failed(workspace_id, due.change_id, reason=str(error))
                continue
            queued += 1
    return queued
