"""Read receipts: the customer's blue ticks, sent when a member opens a conversation with unread messages.

``owe`` runs inside the action that clears the unread count (``inbox.actions.mark_conversation_read``):
it writes one ``ReadReceipt`` row per conversation naming the newest inbound message, and after commit
enqueues ``tasks.send_read_receipt``, so the page never waits on Meta. ``send`` makes the Cloud API
call (marking a message read marks the earlier ones read too); transient failures (timeouts, 5xx, 429)
are retried with back-off by ``send_due`` (every minute, ``settings.PERIODIC_TASKS``), other failures
end the row. Each outcome is one audit event. A channel whose "send read receipts" switch is off gets
no row, and a row still owed when the switch goes off is dropped unsent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db import transaction

from chatrk.audit.actions import SYSTEM, Actor, Origin, record
from chatrk.audit.models import Outcome
from chatrk.core.clock import now
from chatrk.inbox.models import Channel, Conversation, Message
from chatrk.inbox.work import set_channel_switch
from chatrk.outbound.client import client_for
from chatrk.outbound.models import ReadReceipt
from chatrk.whatsapp.client import GraphClient
from chatrk.whatsapp.errors import GraphError, RetryClass

MAX_ATTEMPTS = 6
LEASE = timedelta(minutes=2)  # a worker that claimed a row and died frees it after this
FIRST_RETRY = timedelta(seconds=15)

type ClientFactory = Callable[[Channel], GraphClient]


def owe(conversation: Conversation) -> bool:
    """In the caller's transaction: blue ticks are owed for the newest inbound message. False when the
    channel does not send read receipts or nothing inbound has a WhatsApp id."""
    if not Channel.objects.filter(pk=conversation.channel_id, send_read_receipts=True).exists():
        return False
    newest = (
        Message.objects.for_workspace(conversation.workspace_id)
        .filter(conversation_id=conversation.pk, direction=Message.Direction.INBOUND, wamid__isnull=False)
        .exclude(wamid="")
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if newest is None:
        return False
    owed = ReadReceipt(conversation_id=conversation.pk, workspace_id=conversation.workspace_id,
                       message_id=newest, next_attempt_at=now())  # fmt: skip
    ReadReceipt.objects.bulk_create(  # one INSERT … ON CONFLICT: the row is owed anew for this message
        [owed], update_conflicts=True, unique_fields=["conversation"],
        update_fields=["message", "attempts", "next_attempt_at", "done", "last_error"],
    )  # fmt: skip
    transaction.on_commit(lambda: _enqueue(conversation.pk))
    return True


def _enqueue(conversation_id: int) -> None:
    from chatrk.outbound import tasks

    tasks.send_read_receipt.enqueue(conversation_id)


def send(conversation_id: int, *, client_factory: ClientFactory = client_for) -> str:
    """Sends the receipt owed for a conversation: "sent", "retry", "failed", "withheld" or "skipped"
    (nothing due, or another worker holds it)."""
    moment = now()
    claimed = ReadReceipt.objects.filter(pk=conversation_id, done=False, next_attempt_at__lte=moment).update(
        next_attempt_at=moment + LEASE
    )
    if not claimed:
        return "skipped"
    receipt = ReadReceipt.objects.select_related("message").get(pk=conversation_id)
    message = receipt.message
    channel = Channel.objects.get(pk=message.channel_id)
    if not channel.send_read_receipts:
        _finish(receipt, attempts=receipt.attempts)  # switched off since: nothing leaves
        return "withheld"
    try:
        with client_factory(channel) as client:
            client.mark_read(channel.phone_number_id, message.wamid or "")
    except GraphError as error:
        return _failed(receipt, error)
    with transaction.atomic():
        _finish(receipt, attempts=receipt.attempts + 1)
        record("message.read_receipt_sent", actor=SYSTEM, workspace_id=receipt.workspace_id,
               target=("message", message.pk), details={"conversation": conversation_id})  # fmt: skip
    return "sent"


def _finish(receipt: ReadReceipt, *, attempts: int, error: str = "") -> None:
    # Only the message this call handled: if a member opened the thread again meanwhile, the row names
    # a newer message and stays owed.
    ReadReceipt.objects.filter(pk=receipt.pk, message_id=receipt.message_id).update(
        done=True, attempts=attempts, last_error=error
    )


def _failed(receipt: ReadReceipt, error: GraphError) -> str:
    attempts = receipt.attempts + 1
    reason = (error.reason or "WhatsApp did not accept the read receipt.")[:200]
    if error.retry_class == RetryClass.RETRY_BACKOFF and attempts < MAX_ATTEMPTS:
        ReadReceipt.objects.filter(pk=receipt.pk, message_id=receipt.message_id).update(
            attempts=attempts, last_error=reason, next_attempt_at=now() + FIRST_RETRY * 4 ** (attempts - 1)
        )
        return "retry"
    with transaction.atomic():
        _finish(receipt, attempts=attempts, error=reason)
        record("message.read_receipt_failed", actor=SYSTEM, workspace_id=receipt.workspace_id,
               target=("message", receipt.message_id), outcome=Outcome.FAILURE,
               reason=str(error.code or error.kind), details={"attempts": attempts})  # fmt: skip
    return "failed"


def due(limit: int = 100) -> list[int]:
    """Conversations whose receipt is due: a retry, or an enqueue that never ran."""
    return list(
        ReadReceipt.objects.filter(done=False, next_attempt_at__lte=now())
        .order_by("next_attempt_at")
        .values_list("conversation_id", flat=True)[:limit]
    )


def send_due(limit: int = 100) -> int:
    """Sends every due receipt; returns how many went out."""
    return sum(send(conversation_id) == "sent" for conversation_id in due(limit))


def set_send_read_receipts(channel: Channel, enabled: bool, *, actor: Actor, origin: Origin) -> Channel:
    """The channel's switch (default on). Off: receipts still owed are withheld when due, none more owed."""
    return set_channel_switch(channel, "send_read_receipts", enabled, actor=actor, origin=origin)
