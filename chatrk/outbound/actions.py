"""Outbound actions: queue a message (``do_enqueue``), retry a failed one, mark read, act on a content
review (``apply_review``), and the sender's state changes. Each runs in one transaction and records its
audit event there.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q, Subquery

from chatrk.audit.actions import Actor, Origin, record
from chatrk.audit.models import Outcome
from chatrk.core.clock import now
from chatrk.core.roles import Perm
from chatrk.inbox import events
from chatrk.inbox.models import Channel, Conversation, Media, Message
from chatrk.outbound import media as media_files
from chatrk.outbound.errors import IdempotencyConflict, InvalidContent, NotRetryable, SendRefused
from chatrk.outbound.gates import (
    Decision,
    Hold,
    SendRequest,
    TemplateRef,
    blocked_gate,
    channel_gate,
    check_send,
    consent_purpose,
    window_gate,
)
from chatrk.outbound.models import OutboxItem
from chatrk.outbound.sql import update_rows
from chatrk.whatsapp.enums import MediaKind
from chatrk.whatsapp.errors import GraphError
from chatrk.whatsapp.media import base_mime, media_limit
from chatrk.whatsapp.messages import InvalidRequest, MediaMessage, OutboundMessage, TemplateMessage

# Back-off: base * 2^tries with full jitter, capped; after MAX_TRIES or MAX_AGE the row fails.
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=10)
MAX_TRIES = 8
MAX_AGE = timedelta(hours=24)
PLACEHOLDER_MEDIA_ID = "0"  # replaced by the uploaded id at send time
DOUBLE_OPT_IN_REF = "double_opt_in:"  # OutboxItem.system_ref prefixes for the system's own messages
OPT_OUT_CONFIRMATION_REF = "opt_out_confirmation:"

REJECTED_IN_REVIEW = "Not sent: a compliance officer rejected it under the content policy."
CONSENT_UNREADABLE = "consent could not be checked"

OUTCOME_UNKNOWN = (
    "Outcome unknown: the sender stopped (or lost WhatsApp's answer) during the send, so the message "
    "was not sent again to avoid a duplicate. Check with the customer, or use Retry to send it anew."
)


@dataclass(frozen=True, slots=True)
class SendBy:
    """Who is sending: a member in the inbox, an API token (its creator's role), or a campaign."""

    workspace_id: int
    actor: Actor
    role: str
    user_id: int | None = None
    permission: Perm = Perm.REPLY_INBOX


@dataclass(frozen=True, slots=True)
class OutgoingMedia:
    """A file to send: stored encrypted, uploaded to Meta's /media at send time, sent by id."""

    kind: MediaKind
    content: bytes
    mime_type: str
    filename: str | None = None
    caption: str | None = None
    voice: bool = False


@dataclass(frozen=True, slots=True)
class OutgoingTemplateWithMedia:
    """A template whose header is an image, video or document: ``template`` names the media by
    ``PLACEHOLDER_MEDIA_ID``; the file is stored encrypted and uploaded to /media at send time."""

    template: TemplateMessage
    content: bytes
    mime_type: str
    filename: str | None = None


type Outgoing = OutboundMessage | OutgoingMedia | OutgoingTemplateWithMedia


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What ``do_enqueue`` wrote. When the content policy held the message, ``held`` is true: it is
    stored and waits in the review queue (``review_id``; ``hold_reason`` tells the sender why) and goes
    out only when a compliance officer releases it. ``SendRefused`` is kept for real refusals."""

    message: Message
    item: OutboxItem
    replayed: bool = False  # an Idempotency-Key seen before with the same request: nothing new queued
    hold_reason: str = ""  # plain language, set when this call held the message
    review_id: int | None = None  # the policy review queue's entry, set when this call held the message

    @property
    def held(self) -> bool:
        return self.item.state == OutboxItem.State.HELD


def fingerprint(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    return digest.hexdigest()


def _check_file(content: OutgoingMedia | OutgoingTemplateWithMedia) -> None:
    limit = media_limit(content.mime_type)
    if limit is None:
        raise InvalidContent("WhatsApp does not accept files of this type.")
    if not content.content:
        raise InvalidContent("The file is empty.")
    if len(content.content) > limit:
        raise InvalidContent(f"The file is larger than WhatsApp allows for this type ({limit} bytes).")


def _describe(content: Outgoing) -> tuple[str, dict[str, Any], str | None, TemplateRef | None]:
    """(kind, Meta payload, text a person reads, template) for a message about to be queued."""
    if isinstance(content, OutgoingTemplateWithMedia):
        _check_file(content)
        return _describe(content.template)
    if isinstance(content, OutgoingMedia):
        _check_file(content)
        try:
            built = MediaMessage(
                content.kind,
                PLACEHOLDER_MEDIA_ID,
                caption=content.caption,
                filename=content.filename,
                voice=content.voice,
            )
        except InvalidRequest as error:
            raise InvalidContent(str(error)) from None
        return content.kind.value, dict(built.payload()), content.caption, None
    payload = dict(content.payload())
    kind = str(payload["type"])
    template = TemplateRef(content.name, content.language) if isinstance(content, TemplateMessage) else None
    body = payload.get(kind)
    text: str | None = None
    if isinstance(body, dict):
        inner = body.get("body")
        if isinstance(inner, str):
            text = inner
        elif isinstance(inner, dict) and isinstance(inner.get("text"), str):
            text = str(inner["text"])
    return kind, payload, text, template


def _as_sent(workspace_id: int, channel_id: int, content: Outgoing) -> str | None:
    """A template's full text as the customer reads it, kept as the message's body (encrypted like any
    body) so the thread shows what was sent even after the template is edited. None for other kinds."""
    from chatrk.msgtemplates.sending import Refusal, as_sent, sendable_template

    sent = content.template if isinstance(content, OutgoingTemplateWithMedia) else content
    if not isinstance(sent, TemplateMessage):
        return None
    template = sendable_template(workspace_id, channel_id, sent.name, sent.language)
    return None if isinstance(template, Refusal) else as_sent(template, sent)


def _refuse(by: SendBy, conversation: Conversation, decision: Decision, origin: Origin | None) -> None:
    with transaction.atomic():
        record(
            "message.send_refused",
            actor=by.actor,
            workspace_id=by.workspace_id,
            target=("conversation", conversation.pk),
            outcome=Outcome.DENIED,
            reason=",".join(r.code for r in decision.refusals),
            origin=origin,
        )
    raise SendRefused(decision)


def _replay(workspace_id: int, key: str, print_: str) -> Enqueued | None:
    item = OutboxItem.objects.filter(workspace_id=workspace_id, idempotency_key=key).first()
    if item is None:
        return None
    if item.request_fingerprint != print_:
        raise IdempotencyConflict("This Idempotency-Key was already used with a different request.")
    return Enqueued(Message.objects.get(pk=item.message_id), item, replayed=True)


def do_enqueue(
    by: SendBy,
    conversation: Conversation,
    content: Outgoing,
    *,
    reply_to_wamid: str = "",
    idempotency_key: str = "",
    request_fingerprint: str = "",
    origin: Origin | None = None,
) -> Enqueued:
    """Checks every gate, then writes the message and its outbox row in one transaction.

    With an ``idempotency_key`` (API sends) a repeat with the same fingerprint returns the first
    result and queues nothing; the same key with another fingerprint is an :class:`IdempotencyConflict`.
    """
    if idempotency_key:
        found = _replay(by.workspace_id, idempotency_key, request_fingerprint)
        if found is not None:
            return found
    kind, payload, text, template = _describe(content)
    request = SendRequest(
        workspace_id=by.workspace_id,
        role=by.role,
        conversation=conversation,
        kind=kind,
        template=template,
        text=text or "",
        permission=by.permission,
        user_id=by.user_id,
    )
    decision = check_send(request)
    hold = decision.hold
    if not decision.allowed and hold is None:
        _refuse(by, conversation, decision, origin)
    purpose = consent_purpose(request)
    shown = _as_sent(by.workspace_id, conversation.channel_id, content) or text
    moment = now()
    stored: Media | None = None
    review_id: int | None = None
    try:
        with transaction.atomic():
            status = Message.Status.HELD if hold else Message.Status.QUEUED
            message = _new_message(
                conversation, kind, payload, shown, status, by.user_id, reply_to_wamid, moment
            )
            if isinstance(content, OutgoingMedia | OutgoingTemplateWithMedia):
                stored = Media(
                    workspace_id=message.workspace_id,
                    message=message,
                    contact_id=message.contact_id,
                    mime_type=base_mime(content.mime_type),
                    size=len(content.content),
                    sha256=hashlib.sha256(content.content).hexdigest(),
                    created_at=moment,
                )
                stored.filename = content.filename
                media_files.store(stored, content.content)
                stored.stored_at = moment
                stored.save()
            item = OutboxItem.objects.create(
                workspace_id=message.workspace_id,
                message=message,
                channel_id=message.channel_id,
                recipient_id=message.contact_id,
                media=stored,
                state=OutboxItem.State.HELD if hold else OutboxItem.State.QUEUED,
                consent_purpose=purpose,
                due_at=moment,
                idempotency_key=idempotency_key,
                request_fingerprint=request_fingerprint if idempotency_key else "",
                created_at=moment,
            )
            Conversation.objects.filter(pk=conversation.pk).update(last_message_at=moment)
            if hold:
                review_id = _hold(item, hold, text or "")
            record(
                "message.held" if hold else "message.queued",
                actor=by.actor,
                workspace_id=by.workspace_id,
                target=("message", message.pk),
                origin=origin,
                details={"kind": kind, "outbox": item.pk},
            )
            events.publish(
                message.workspace_id, "message.queued", conversation_id=conversation.pk, message_id=message.pk
            )
    except IntegrityError:
        if stored is not None:
            media_files.discard(stored)
        if idempotency_key:  # a concurrent request with the same key won the race
            found = _replay(by.workspace_id, idempotency_key, request_fingerprint)
            if found is not None:
                return found
        raise
    except BaseException:
        if stored is not None:
            media_files.discard(stored)
        raise
    return Enqueued(message, item, hold_reason=hold.reason if hold else "", review_id=review_id)


def _new_message(
    conversation: Conversation,
    kind: str,
    payload: dict[str, Any],
    text: str | None,
    status: Message.Status,
    user_id: int | None,
    reply_to_wamid: str,
    moment: Any,
) -> Message:
    message = Message(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        contact_id=conversation.contact_id,
        channel_id=conversation.channel_id,
        direction=Message.Direction.OUTBOUND,
        kind=kind,
        reply_to_wamid=reply_to_wamid,
        status=status,
        sent_by_id=user_id,
        created_at=moment,
    )
    message.body = text  # encrypted under the contact's key, like the payload
    message.payload = payload
    message.save()
    return message


SYSTEM = Actor("system", "outbound")


SYSTEM_MESSAGE_GATES = (("channel", channel_gate), ("blocked", blocked_gate), ("window", window_gate))


def enqueue_system_message(
    conversation: Conversation, content: OutboundMessage, *, system_ref: str
) -> Enqueued:
    """A message Chatrk sends on its own behalf: the opt-out confirmation (a text inside the window) or
    the double opt-in request (an approved template). It skips the consent gate — it is the one message
    allowed after an opt-out, or the request for consent itself — and nothing else: the number and the
    contact must be usable and the window or the template's approval must allow it (``SendRefused``).
    The sender checks no consent for it (``consent_purpose`` is empty)."""
    kind, payload, text, template = _describe(content)
    request = SendRequest(conversation.workspace_id, "", conversation, kind, template=template)
    decision = Decision(tuple((name, gate(request)) for name, gate in SYSTEM_MESSAGE_GATES))
    if not decision.allowed:
        _refuse(SendBy(conversation.workspace_id, SYSTEM, ""), conversation, decision, None)
    shown = _as_sent(conversation.workspace_id, conversation.channel_id, content) or text
    moment = now()
    with transaction.atomic():
        message = _new_message(conversation, kind, payload, shown, Message.Status.QUEUED, None, "", moment)
        item = OutboxItem.objects.create(
            workspace_id=message.workspace_id,
            message=message,
            channel_id=message.channel_id,
            recipient_id=message.contact_id,
            consent_purpose="",
            system_ref=system_ref[:40],
            due_at=moment,
            created_at=moment,
        )
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=moment)
        record(
            "message.queued",
            actor=SYSTEM,
            workspace_id=conversation.workspace_id,
            target=("message", message.pk),
            details={"kind": kind, "outbox": item.pk, "system": system_ref.split(":")[0]},
        )
        events.publish(
            message.workspace_id, "message.queued", conversation_id=conversation.pk, message_id=message.pk
        )
    return Enqueued(message, item)


def _hold(item: OutboxItem, hold: Hold, text: str) -> int:
    """Puts a held outbox row in the policy review queue (inside the caller's transaction)."""
    from chatrk.policy.actions import hold_for_review
    from chatrk.policy.models import HeldKind

    if hold.policy is None:  # a hold without the policy's decision cannot be reviewed: refuse it
        raise InvalidContent("The content policy held this message but gave no decision to review.")
    queued = hold_for_review(
        item.workspace_id, hold.policy, kind=HeldKind.MESSAGE, ref_id=item.pk, text=text,
        contact_id=item.recipient_id,
    )  # fmt: skip
    return int(queued.pk)


def retry_failed(by: SendBy, message: Message, *, origin: Origin | None = None) -> OutboxItem:
    """Re-queues a failed outbound message as a new outbox attempt, through every gate again.

    It really re-sends: a new row, a new call to WhatsApp, a new wamid.
    """
    if message.workspace_id != by.workspace_id or message.direction != Message.Direction.OUTBOUND:
        raise NotRetryable("Only messages sent from this workspace can be retried.")
    if message.status != Message.Status.FAILED:
        raise NotRetryable("Only failed messages can be retried.")
    conversation = Conversation.objects.select_related("channel", "contact").get(pk=message.conversation_id)
    template: TemplateRef | None = None
    payload = _open_payload(message)
    if message.kind == "template":
        spec = payload.get("template") if isinstance(payload, dict) else None
        if isinstance(spec, dict):
            language = spec.get("language")
            template = TemplateRef(
                str(spec.get("name", "")), str(language.get("code", "")) if isinstance(language, dict) else ""
            )
    # A template's body is the text kept for the thread; its content was approved, not screened at send.
    text = "" if message.kind == "template" else _open_body(message)
    request = SendRequest(
        workspace_id=by.workspace_id,
        role=by.role,
        conversation=conversation,
        kind=message.kind,
        template=template,
        text=text,  # a retry is screened by the content policy again (and may be held again)
        permission=by.permission,
        user_id=by.user_id,
    )
    decision = check_send(request)
    hold = decision.hold
    if not decision.allowed and hold is None:
        _refuse(by, conversation, decision, origin)
    moment = now()
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.status != Message.Status.FAILED:
            raise NotRetryable("Only failed messages can be retried.")
        last = OutboxItem.objects.filter(message=locked).aggregate(n=Max("attempt"))["n"] or 0
        previous = OutboxItem.objects.filter(message=locked).order_by("-attempt").first()
        item = OutboxItem.objects.create(
            workspace_id=locked.workspace_id,
            message=locked,
            channel_id=locked.channel_id,
            recipient_id=locked.contact_id,
            media=previous.media if previous else None,
            attempt=last + 1,
            state=OutboxItem.State.HELD if hold else OutboxItem.State.QUEUED,
            consent_purpose=consent_purpose(request),
            due_at=moment,
            created_at=moment,
        )
        Message.objects.filter(pk=locked.pk).update(
            status=Message.Status.HELD if hold else Message.Status.QUEUED,
            error_code=None,
            error_title="",
            wamid=None,
            status_at=moment,
        )
        if hold:
            _hold(item, hold, text)
        record(
            "message.retried",
            actor=by.actor,
            workspace_id=by.workspace_id,
            target=("message", locked.pk),
            origin=origin,
            details={"attempt": item.attempt, "outbox": item.pk, "held": bool(hold)},
        )
        events.publish(
            locked.workspace_id,
            "message.queued",
            conversation_id=locked.conversation_id,
            message_id=locked.pk,
        )
    return item


def _open_body(message: Message) -> str:
    from chatrk.crypto.fields import open_for_system

    body = open_for_system(message, "body")
    return body if isinstance(body, str) else ""


def _open_payload(message: Message) -> Any:
    from chatrk.crypto.fields import open_for_system

    return open_for_system(message, "payload")


def mark_read(by: SendBy, message: Message, *, origin: Origin | None = None) -> None:
    """Blue ticks for an inbound message (and those before it), sent to WhatsApp now."""
    from chatrk.outbound.client import client_for

    if message.workspace_id != by.workspace_id or message.direction != Message.Direction.INBOUND:
        raise NotRetryable("Only received messages can be marked as read.")
    if not message.wamid:
        raise NotRetryable("This message has no WhatsApp id.")
    channel = Channel.objects.get(pk=message.channel_id)
    with client_for(channel) as client:
        client.mark_read(channel.phone_number_id, message.wamid)
    with transaction.atomic():
        Conversation.objects.filter(pk=message.conversation_id).update(unread=0)
        record(
            "message.marked_read",
            actor=by.actor,
            workspace_id=by.workspace_id,
            target=("message", message.pk),
            origin=origin,
        )


# --- the content review's answer -------------------------------------------------------------------


def apply_review(
    workspace_id: int, item_id: int, *, released: bool, actor: Actor, origin: Origin | None = None
) -> OutboxItem | None:
    """A compliance officer decided on a held message (``chatrk.policy.actions`` calls this in the
    reviewer's transaction). Released: the row becomes due and the normal sender sends it, checking
    consent again right before the call. Rejected, or released after the customer opted out, the
    window closed or the number or contact became unusable: the message ends failed with a plain reason.
    Returns the row, or ``None`` when no held row of this workspace has that id (already decided)."""
    with transaction.atomic():
        item = (
            OutboxItem.objects.for_workspace(workspace_id)
            .select_for_update()
            .filter(pk=item_id, state=OutboxItem.State.HELD)
            .first()
        )
        if item is None:
            return None
        message = Message.objects.select_for_update().get(pk=item.message_id)
        moment = now()
        reason = _unsendable_after_review(item, message, moment) if released else REJECTED_IN_REVIEW
        if reason:
            _fail(item, message, code=None, title="", reason=reason, at=moment)
        else:
            item.state, item.due_at, item.released_at = OutboxItem.State.QUEUED, moment, moment
            message.status, message.status_at = Message.Status.QUEUED, moment
        item.save(update_fields=["state", "due_at", "released_at", "finished_at", "last_error_code",
                                 "last_error_reason"])  # fmt: skip
        message.save(update_fields=["status", "status_at", "error_code", "error_title"])
        record(
            "message.released" if not reason else "message.send_failed",
            actor=actor,
            workspace_id=workspace_id,
            target=("message", message.pk),
            outcome=Outcome.SUCCESS if not reason else Outcome.FAILURE,
            reason=""
            if not reason
            else ("rejected_in_review" if not released else "unsendable_after_review"),
            origin=origin,
            details={"outbox": item.pk},
        )
        events.publish(
            workspace_id, "message.status", message_id=message.pk, conversation_id=message.conversation_id
        )
    return item


def _unsendable_after_review(item: OutboxItem, message: Message, moment: Any) -> str:
    """Why a released message can no longer go out (the customer may have opted out or gone quiet while
    it waited); "" when it may. The sender checks consent once more right before the call."""
    from chatrk.consent.gate import check_consent

    conversation = Conversation.objects.select_related("channel", "contact").get(pk=message.conversation_id)
    consent = check_consent(
        item.workspace_id, item.recipient_id, item.consent_purpose or "service", window_open=True
    )
    if item.consent_purpose and not consent.allowed:
        return f"Not sent: {consent.reason} while it waited for review."
    request = SendRequest(item.workspace_id, "", conversation, message.kind, at=moment)
    for gate in (channel_gate, window_gate):
        verdict = gate(request)
        if not verdict.allowed:
            return f"Not sent after review: {verdict.reason}"
    return ""


def consent_refusals(items: Iterable[OutboxItem]) -> dict[int, tuple[str, bool]]:
    """Consent read again right before the call, one query per workspace and purpose: a STOP that came
    after the message was queued (or held, then released) wins. Returns {row id: (reason, retry)};
    ``retry`` when consent could not be read (a database hiccup must not lose the message)."""
    from chatrk.consent.gate import check_consent_many

    groups: dict[tuple[int, str], list[OutboxItem]] = defaultdict(list)
    for item in items:
        if item.consent_purpose:  # "" only for the system's own opt-out and double opt-in messages
            groups[(item.workspace_id, item.consent_purpose)].append(item)
    refused: dict[int, tuple[str, bool]] = {}
    for (workspace_id, purpose), rows in groups.items():
        decisions = check_consent_many(
            workspace_id, [r.recipient_id for r in rows], purpose, window_open=True
        )
        for row in rows:
            decision = decisions[row.recipient_id]
            if not decision.allowed:
                unreadable = decision.reason.startswith(CONSENT_UNREADABLE)
                refused[row.pk] = (f"Not sent: {decision.reason} after it was queued.", unreadable)
    return refused


# --- the sender's state changes --------------------------------------------------------------------


def claim_due(worker: str, *, limit: int, lease: timedelta) -> list[OutboxItem]:
    """Leases up to ``limit`` due rows to ``worker`` (SKIP LOCKED on PostgreSQL, IMMEDIATE on SQLite).

    One UPDATE whose subquery picks the due rows, then one read of what it leased (by this worker's
    name and the lease's exact end): four round trips where a SELECT and an UPDATE took five, and no
    list of ids sent back and forth.
    A leased row stays ``queued``: only the rows about to be sent are moved to ``sending``, so a worker
    that dies while holding a lease leaves rows that are simply claimed again once it expires.
    """
    moment = now()
    until = moment + lease
    due = (
        OutboxItem.objects.select_for_update(skip_locked=True)
        .filter(state=OutboxItem.State.QUEUED, due_at__lte=moment)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=moment))
        .exclude(channel__health=Channel.Health.REAUTHORISE)
        .order_by("due_at")
        .values("id")[:limit]
    )
    with transaction.atomic():  # FOR UPDATE needs one, even around a single statement
        claimed = OutboxItem.objects.filter(pk__in=Subquery(due)).update(claimed_by=worker, lease_until=until)
    if not claimed:
        return []
    items = list(
        OutboxItem.objects.filter(claimed_by=worker, lease_until=until, state=OutboxItem.State.QUEUED)
    )
    channels = Channel.objects.in_bulk(
        {item.channel_id for item in items}
    )  # one object per number, not per row
    for item in items:
        item.channel = channels[item.channel_id]
    return items


def release(worker: str, ids: Iterable[int], *, due_in: timedelta) -> None:
    """Gives leased rows back, due again later (no tokens for them yet)."""
    OutboxItem.objects.filter(pk__in=list(ids), claimed_by=worker, state=OutboxItem.State.QUEUED).update(
        claimed_by="", lease_until=None, due_at=now() + due_in
    )


def release_claims(worker: str) -> int:
    """Every lease this worker holds on rows not yet sending (after it lost track, e.g. a DB outage)."""
    return int(
        OutboxItem.objects.filter(claimed_by=worker, state=OutboxItem.State.QUEUED).update(
            claimed_by="", lease_until=None
        )
    )


def mark_sending(worker: str, ids: list[int], *, lease: timedelta) -> set[int]:
    """Commits ``sending`` before any call to WhatsApp; returns the ids this worker may send.

    One UPDATE; only when it moved fewer rows than asked (a lease lost meanwhile) a read says which."""
    until = now() + lease
    moved = OutboxItem.objects.filter(pk__in=ids, claimed_by=worker, state=OutboxItem.State.QUEUED).update(
        state=OutboxItem.State.SENDING, lease_until=until, tries=F("tries") + 1
    )
    if moved == len(set(ids)):
        return set(ids)
    return set(
        OutboxItem.objects.filter(
            pk__in=ids, claimed_by=worker, state=OutboxItem.State.SENDING, lease_until=until
        ).values_list("id", flat=True)
    )


@dataclass(frozen=True, slots=True)
class Sent:
    item_id: int
    wamid: str


@dataclass(frozen=True, slots=True)
class Failed:
    item_id: int
    error: GraphError | None
    reason: str
    code: int | None = None
    title: str = ""
    retry_in: timedelta | None = None  # set: back to queued, due then; None: final


type Outcome_ = Sent | Failed


def backoff(tries: int, *, code: int | None = None) -> timedelta:
    """Exponential with full jitter; the pair limit (131056) follows Meta's 4^x seconds advice."""
    if code == 131056:
        base = min(4.0 ** max(0, tries - 1), BACKOFF_CAP.total_seconds())
        return timedelta(seconds=base + random.uniform(0, 1))  # noqa: S311 (jitter, not secrecy)
    ceiling = min(BACKOFF_CAP.total_seconds(), BACKOFF_BASE.total_seconds() * 2 ** max(0, tries - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311


def _apply_early_statuses(sent: list[OutboxItem]) -> None:
    """Meta's statuses often overtake the commit of the wamid and wait as orphans: apply them now.
    One query finds the few rows that have any, so the hot path stays one query per batch."""
    from chatrk.ingest.actions import apply_orphans
    from chatrk.ingest.models import Orphan

    waiting = set(
        Orphan.objects.filter(target_wamid__in=[i.wamid for i in sent]).values_list(
            "channel_id", "target_wamid"
        )
    )
    for item in sent:
        if (item.channel_id, item.wamid) in waiting:
            apply_orphans(Channel.objects.get(pk=item.channel_id), item.wamid)


# What an answer changes on the message (its encrypted body and payload are neither read nor written).
RECORDED_MESSAGE_FIELDS = ["wamid", "sent_at", "status_at", "status", "error_code", "error_title"]


def record_outcomes(worker: str, outcomes: list[Outcome_]) -> None:
    """Writes what WhatsApp answered, in one transaction; only rows still ``sending`` by this worker."""
    if not outcomes:
        return
    moment = now()
    ids = [o.item_id for o in outcomes]
    with transaction.atomic():
        items = {
            i.pk: i
            for i in OutboxItem.objects.select_for_update().filter(
                pk__in=ids, claimed_by=worker, state=OutboxItem.State.SENDING
            )
        }
        messages = {
            m.pk: m
            for m in Message.objects.filter(pk__in=[i.message_id for i in items.values()]).only(
                *RECORDED_MESSAGE_FIELDS, "conversation_id"
            )
        }
        for outcome in outcomes:
            item = items.get(outcome.item_id)
            if item is None:
                continue
            message = messages[item.message_id]
            if isinstance(outcome, Sent):
                item.state, item.wamid, item.finished_at = OutboxItem.State.SENT, outcome.wamid, moment
                # last_error_* stay: the transient error (if any) this row overcame before it went out
                message.wamid, message.sent_at, message.status_at = outcome.wamid, moment, moment
                if message.status == Message.Status.QUEUED:
                    message.status = Message.Status.SENT
                message.error_code, message.error_title = None, ""
            elif outcome.retry_in is not None and _may_retry(item, moment):
                item.state, item.due_at = OutboxItem.State.QUEUED, moment + outcome.retry_in
                item.last_error_code, item.last_error_reason = outcome.code, outcome.reason[:300]
            else:
                reason = outcome.reason
                if outcome.retry_in is not None:
                    reason = f"{reason} Gave up after {item.tries} tries."
                _fail(item, message, code=outcome.code, title=outcome.title, reason=reason, at=moment)
            item.claimed_by, item.lease_until = "", None
        update_rows(
            OutboxItem,
            items.values(),
            [
                "state",
                "wamid",
                "finished_at",
                "last_error_code",
                "last_error_reason",
                "due_at",
                "claimed_by",
                "lease_until",
            ],
        )
        update_rows(Message, messages.values(), RECORDED_MESSAGE_FIELDS)
        _apply_early_statuses([i for i in items.values() if i.state == OutboxItem.State.SENT and i.wamid])
        _tell_consent(items.values(), outcomes, moment)
        failed = [o for o in outcomes if isinstance(o, Failed) and items.get(o.item_id) is not None]
        for outcome in failed:
            item = items[outcome.item_id]
            if item.state == OutboxItem.State.FAILED:
                record(
                    "message.send_failed",
                    actor=Actor("system", "sender"),
                    workspace_id=item.workspace_id,
                    target=("message", item.message_id),
                    outcome=Outcome.FAILURE,
                    reason=str(outcome.code or "unknown"),
                    details={"outbox": item.pk},
                )
        events.publish_all(  # one Redis round trip for the batch, not one per row
            [
                {
                    "kind": "message.status",
                    "workspace_id": item.workspace_id,
                    "message_id": item.message_id,
                    "conversation_id": messages[item.message_id].conversation_id,
                }
                for item in items.values()
            ]
        )


def _tell_consent(items: Iterable[OutboxItem], outcomes: list[Outcome_], moment: Any) -> None:
    """What the consent ledger must hear from a send: 131050 (the customer stopped marketing in
    WhatsApp) revokes marketing; a double opt-in request sent, or given up on, is recorded on it."""
    from chatrk.consent import actions as consent

    answers = {o.item_id: o for o in outcomes}
    for item in items:
        answer = answers.get(item.pk)
        if isinstance(answer, Failed) and answer.code == consent.ERROR_MARKETING_OPT_OUT:
            consent.apply_send_error_131050(item.workspace_id, item.recipient_id, occurred_at=moment)
        if not item.system_ref.startswith(DOUBLE_OPT_IN_REF):
            continue
        change_id = int(item.system_ref.removeprefix(DOUBLE_OPT_IN_REF))
        if item.state == OutboxItem.State.SENT:
            consent.mark_double_opt_in_sent(item.workspace_id, change_id, wamid=item.wamid)
        elif item.state == OutboxItem.State.FAILED:
            consent.double_opt_in_failed(item.workspace_id, change_id, reason=item.last_error_reason)


def _may_retry(item: OutboxItem, moment: Any) -> bool:
    return item.tries < MAX_TRIES and moment - (item.released_at or item.created_at) < MAX_AGE


def _fail(item: OutboxItem, message: Message, *, code: int | None, title: str, reason: str, at: Any) -> None:
    item.state, item.finished_at = OutboxItem.State.FAILED, at
    item.last_error_code, item.last_error_reason = code, reason[:300]
    if message.status in (Message.Status.QUEUED, Message.Status.HELD):
        message.status = Message.Status.FAILED
        message.error_code, message.error_title, message.status_at = code, (title or reason)[:200], at


def reap_expired() -> int:
    """Rows left ``sending`` past their lease (the worker died mid-send) end ``failed``, not re-sent.

    Meta has no idempotency key, so a call that may have gone out is never repeated blindly. Also
    fails rows queued longer than MAX_AGE (e.g. on a number that still needs re-authorisation).
    """
    moment = now()
    count = 0
    with transaction.atomic():
        stuck = list(
            OutboxItem.objects.select_for_update(skip_locked=True).filter(
                state=OutboxItem.State.SENDING, lease_until__lt=moment
            )[:500]
        )
        stale = list(
            OutboxItem.objects.select_for_update(skip_locked=True)
            .filter(state=OutboxItem.State.QUEUED)
            # a held row's 24 hours start when a reviewer releases it
            .filter(
                Q(released_at__isnull=True, created_at__lt=moment - MAX_AGE)
                | Q(released_at__lt=moment - MAX_AGE)
            )
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=moment))[:500]
        )
        for group, reason in (
            (stuck, OUTCOME_UNKNOWN),
            (stale, "Not sent within 24 hours (the number was unavailable or needed re-authorisation)."),
        ):
            for item in group:
                message = Message.objects.get(pk=item.message_id)
                _fail(item, message, code=None, title="", reason=reason, at=moment)
                item.claimed_by, item.lease_until = "", None
                item.save(
                    update_fields=[
                        "state",
                        "finished_at",
                        "last_error_code",
                        "last_error_reason",
                        "claimed_by",
                        "lease_until",
                    ]
                )
                message.save(update_fields=["status", "error_code", "error_title", "status_at"])
                record(
                    "message.send_failed",
                    actor=Actor("system", "sender"),
                    workspace_id=item.workspace_id,
                    target=("message", item.message_id),
                    outcome=Outcome.FAILURE,
                    reason="outcome_unknown" if group is stuck else "expired",
                    details={"outbox": item.pk},
                )
                _tell_consent([item], [], moment)
                count += 1
    return count


def needs_reauthorisation(channel_id: int) -> None:
    """Error 190 (or a permission error): the number stops sending until an admin reconnects it."""
    with transaction.atomic():
        changed = (
            Channel.objects.filter(pk=channel_id)
            .exclude(health=Channel.Health.REAUTHORISE)
            .update(health=Channel.Health.REAUTHORISE)
        )
        if changed:
            channel = Channel.objects.get(pk=channel_id)
            record(
                "channel.reauthorisation_needed",
                actor=Actor("system", "sender"),
                workspace_id=channel.workspace_id,
                target=("channel", channel_id),
            )


def reconcile_from_status(channel_id: int, callback_data: str, wamid: str) -> bool:
    """For the ingest drainer: a status webhook whose ``biz_opaque_callback_data`` names an outbox row
    that ended "outcome unknown" proves the message went out; record its wamid and mark it sent.
    """
    if not callback_data.startswith("ob:") or not callback_data[3:].isdigit():
        return False
    with transaction.atomic():
        item = (
            OutboxItem.objects.select_for_update()
            .filter(
                pk=int(callback_data[3:]),
                channel_id=channel_id,
                state=OutboxItem.State.FAILED,
                last_error_code__isnull=True,
                wamid="",
            )
            .first()
        )
        if item is None:
            return False
        item.state, item.wamid = OutboxItem.State.SENT, wamid
        item.last_error_reason = ""
        item.save(update_fields=["state", "wamid", "last_error_reason"])
        Message.objects.filter(pk=item.message_id, status=Message.Status.FAILED).update(
            status=Message.Status.SENT, wamid=wamid, error_title="", error_code=None
        )
    return True
