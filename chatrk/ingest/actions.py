"""The drainer: claim stored webhook events, apply them to the inbox once, delete them.

Every change is idempotent, so a redelivery, a second drainer or a drainer killed mid-batch changes
nothing twice: messages are keyed by (channel, wamid), statuses only move forward (compare-and-set on
the current status), notices and preference records carry a unique dedup key. See docs/pipeline.md.
"""

from __future__ import annotations

import dataclasses
import enum
import gc
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any

from django.db import connection, transaction

from chatrk.audit.actions import SYSTEM, record
from chatrk.audit.models import Outcome
from chatrk.core.bulk import insert_rows, one_of
from chatrk.core.clock import now
from chatrk.core.ids import new_id
from chatrk.crypto import ledger
from chatrk.crypto.blind import NormalisationError
from chatrk.crypto.envelope import Sealed
from chatrk.crypto.errors import CryptoError
from chatrk.crypto.fields import open_for_system, scope_of
from chatrk.crypto.keyring import preload_active
from chatrk.crypto.models import KeyKind
from chatrk.inbox import events
from chatrk.inbox.actions import contact_for, contacts_for, conversation_for, conversations_for
from chatrk.inbox.blocking import blocked_sender, blocked_senders
from chatrk.inbox.models import Channel, Contact, Conversation, Media, Message
from chatrk.ingest import hooks
from chatrk.ingest.models import ChannelNotice, MediaFetch, Orphan, RawEvent
from chatrk.whatsapp import payloads as wa
from chatrk.whatsapp.enums import AccountEvent, PhoneQualityEvent, StatusKind
from chatrk.whatsapp.errors import PayloadError, describe_error
from chatrk.whatsapp.parsing import parse_webhook

log = logging.getLogger(__name__)

# Events per batch. PostgreSQL takes 500: fewer statements and round trips per event (in alternated
# bench runs the server's CPU per event fell 10-20 % against 200, the drainer's 0-10 %). SQLite keeps
# 200: the apply transaction holds its one write lock, which the webhook endpoint waits for.
BATCH_SIZE = 200
BATCH_SIZE_POSTGRESQL = 500
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 5
ORPHAN_TTL = timedelta(days=7)  # Meta retries for up to 7 days; a status older than that will not come
# Young collections while draining: one per 50,000 net new container objects instead of Python's 700.
# At 700 the cyclic collector ran several times a batch, each time walking the batch's live objects and
# promoting them, which then set off full collections of the whole heap: 65-120 µs of CPU per event
# (timed with gc.callbacks, 20,000 events). A batch's objects die by reference counting when it ends.
YOUNG_COLLECTION_THRESHOLD = 50_000

# Outbound progress; a status applies only if it ranks above the current one. FAILED and DELETED are final.
_RANK = {
    Message.Status.QUEUED: 0,
    Message.Status.SENT: 1,
    Message.Status.DELIVERED: 2,
    Message.Status.READ: 3,
}
_FINAL = {Message.Status.FAILED, Message.Status.DELETED}
ERROR_MARKETING_OPT_OUT = 131050  # a failed status with it revokes marketing consent (docs/consent.md)
_STATUS_OF = {
    StatusKind.SENT: Message.Status.SENT,
    StatusKind.DELIVERED: Message.Status.DELIVERED,
    StatusKind.READ: Message.Status.READ,
    StatusKind.PLAYED: Message.Status.READ,  # a voice note played was read
    StatusKind.FAILED: Message.Status.FAILED,
    StatusKind.DELETED: Message.Status.DELETED,
}
# Kinds that are not the customer writing: they neither count as unread nor open the 24-hour window.
_NOT_CONVERSATIONAL = {"reaction", "system", "user_preferences"}


class Skip(Exception):
    """This event cannot be applied and never will be as it is: keep it as poison with ``reason``."""


@dataclass(slots=True)
class DrainResult:
    claimed: int = 0
    applied: int = 0
    poisoned: int = 0
    retried: int = 0
    dropped: int = 0  # messages from blocked numbers, never stored

    def add(self, other: DrainResult) -> None:
        self.claimed += other.claimed
        self.applied += other.applied
        self.poisoned += other.poisoned
        self.retried += other.retried
        self.dropped += other.dropped


@dataclass(slots=True)
class _Batch:
    """Lookups shared by the events of one batch (rolled back with it)."""

    channels: dict[int, Channel | None] = field(default_factory=dict)
    by_number: dict[tuple[int, str], Channel | None] = field(default_factory=dict)
    contacts: dict[tuple[int, str, str | None], Contact] = field(default_factory=dict)
    senders: dict[tuple[int, str], Contact] = field(default_factory=dict)  # prefetched: (workspace, wa_id)
    conversations: dict[tuple[int, int], Conversation] = field(default_factory=dict)
    orphans: dict[int, bool] = field(default_factory=dict)
    known: set[tuple[int, str]] = field(default_factory=set)  # (channel id, wamid) already stored
    messages: list[Message] = field(default_factory=list)  # new rows, inserted together by flush()
    media: list[tuple[Media, MediaFetch]] = field(default_factory=list)
    touches: dict[int, _Touch] = field(default_factory=dict)  # conversation id -> what to update
    replies: list[hooks.InboundReply] = field(default_factory=list)  # for consent, after the rows exist
    # Workspaces with new messages: one ``message.new`` each after commit wakes their live inboxes,
    # which read what is new from the database (inbox.live); ids per message would go unread.
    woken: set[int] = field(default_factory=set)
    blocked: set[tuple[int, int]] = field(default_factory=set)  # candidates: (workspace, wa_id index)
    dropped: int = 0


@dataclass(slots=True)
class _Touch:
    last_message_at: datetime
    last_inbound_at: datetime | None = None
    unread: int = 0

    def add(self, at: datetime, *, inbound: bool) -> None:
        self.last_message_at = max(self.last_message_at, at)
        if inbound:
            self.last_inbound_at = at if self.last_inbound_at is None else max(self.last_inbound_at, at)
            self.unread += 1


def _prefetch(batch: _Batch, parsed: Sequence[tuple[RawEvent, wa.Webhook]]) -> None:
    """Everything the batch's messages look up, asked together rather than per event: which wamids
    are already stored (redeliveries), which senders may be blocked numbers, and the senders'
    contacts, keys and conversations."""
    webhooks = [webhook for _, webhook in parsed]
    numbers: set[str] = set()
    wamids: set[str] = set()
    for webhook in webhooks:
        for change in webhook.changes():
            if isinstance(change, wa.MessagesChange) and change.messages:
                numbers.add(change.metadata.phone_number_id)
                wamids.update(message.id for message in change.messages)
    if not wamids:
        return
    rows = Channel.objects.filter(phone_number_id__in=numbers).values_list(
        "phone_number_id", "id", "workspace_id"
    )
    channels = {number: (channel_id, workspace_id) for number, channel_id, workspace_id in rows}
    senders = {
        (channels[change.metadata.phone_number_id][1], message.from_)
        for webhook in webhooks
        for change in webhook.changes()
        if isinstance(change, wa.MessagesChange) and change.metadata.phone_number_id in channels
        for message in change.messages
        if message.from_
    }
    batch.blocked = blocked_senders(senders)
    batch.known.update(_stored_wamids([channel_id for channel_id, _ in channels.values()], wamids))
    _prefetch_senders(batch, parsed)


def _stored_wamids(channel_ids: Sequence[int], wamids: Iterable[str]) -> list[tuple[int, str]]:
    """(channel id, wamid) of the batch's messages already stored: Meta's redeliveries."""
    if not channel_ids:
        return []
    in_channels, channel_params = one_of("channel_id", channel_ids, "bigint[]")
    in_wamids, wamid_params = one_of("wamid", list(wamids), "text[]")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT channel_id, wamid FROM inbox_message WHERE {in_channels} AND {in_wamids}",  # noqa: S608
            channel_params + wamid_params,
        )
        return [(channel_id, wamid) for channel_id, wamid in cursor.fetchall()]


def _prefetch_senders(batch: _Batch, parsed: Sequence[tuple[RawEvent, wa.Webhook]]) -> None:
    """The contacts and conversations of the batch's new messages, found or created together (new ones
    in one INSERT each), and the senders' keys loaded in one query. Senders seen in an earlier batch
    with the same name cost nothing. A number change in the batch leaves every sender to the event
    order (a contact may move to a number that writes later in the batch)."""
    wanted: dict[int, dict[str, str | None]] = {}  # workspace -> wa_id -> latest profile name
    firsts: dict[Channel, dict[str, datetime]] = {}  # channel -> wa_id -> first message time
    for channel, message, names in _new_messages(batch, parsed):
        if isinstance(message.content, wa.System) and message.content.new_wa_id:
            return
        sender = message.from_ or ""
        name = names.get(sender)
        known = _known_contacts.get((channel.workspace_id, sender, name))
        if known is not None:
            batch.senders[(channel.workspace_id, sender)] = known
        by_id = wanted.setdefault(channel.workspace_id, {})
        if known is None and (name is not None or sender not in by_id):
            by_id[sender] = name
        firsts.setdefault(channel, {}).setdefault(sender, message.timestamp)
    for workspace_id, by_id in wanted.items():
        found = contacts_for(workspace_id, by_id)
        batch.senders.update(((workspace_id, wa_id), contact) for wa_id, contact in found.items())
        _remember_all_after_commit(
            _known_contacts,
            {(workspace_id, wa_id, by_id[wa_id]): contact for wa_id, contact in found.items()},
        )
    for channel, first in firsts.items():
        _prefetch_conversations(batch, channel, first)
    for workspace_id in {workspace_id for workspace_id, _ in batch.senders}:
        preload_active(workspace_id, KeyKind.SUBJECT, _subjects(batch, workspace_id))


def _new_messages(
    batch: _Batch, parsed: Sequence[tuple[RawEvent, wa.Webhook]]
) -> Iterable[tuple[Channel, wa.Message, dict[str, str | None]]]:
    """The batch's messages that will be stored as rows, with their channel and the senders' names."""
    for event, webhook in parsed:
        url_channel = _channel(batch, event.channel_id)
        if url_channel is None:
            continue
        for change in webhook.changes():
            if not isinstance(change, wa.MessagesChange):
                continue
            channel = _channel_for_number(batch, url_channel, change.metadata.phone_number_id)
            if channel is None:
                continue
            names = {c.wa_id: c.profile_name for c in change.contacts if c.wa_id}
            for message in change.messages:
                if (
                    message.from_
                    and not isinstance(message.content, wa.Edit | wa.Revoke)
                    and (channel.pk, message.id) not in batch.known
                    and blocked_sender(batch.blocked, channel.workspace_id, message.from_) is None
                ):
                    yield channel, message, names


def _prefetch_conversations(batch: _Batch, channel: Channel, first: dict[str, datetime]) -> None:
    firsts: dict[Contact, datetime] = {}
    for wa_id, at in first.items():
        contact = batch.senders.get((channel.workspace_id, wa_id))
        if contact is None:
            continue
        known = _known_conversations.get((channel.pk, contact.pk))
        if known is not None:
            batch.conversations[(channel.pk, contact.pk)] = known
        else:
            firsts.setdefault(contact, at)
    if not firsts:
        return
    found = conversations_for(channel, firsts)
    batch.conversations.update(((channel.pk, contact_id), row) for contact_id, row in found.items())
    _remember_all_after_commit(
        _known_conversations, {(channel.pk, contact_id): row for contact_id, row in found.items()}
    )


def _subjects(batch: _Batch, workspace_id: int) -> set[str]:
    scope = scope_of(Contact)
    return {scope.subject_ref(contact) for (ws, _), contact in batch.senders.items() if ws == workspace_id}


def _flush(batch: _Batch) -> None:
    """Inserts the batch's new messages and media, then updates each touched conversation once."""
    events.publish_all([{"kind": "message.new", "workspace_id": ws} for ws in sorted(batch.woken)])
    batch.woken = set()
    if batch.messages:
        insert_rows(Message, batch.messages)
        orphan_checks = [row for row in batch.messages if batch.orphans.get(row.channel_id)]
        batch.messages = []
        for row in orphan_checks:
            apply_orphans(row.channel, row.wamid or "")
    if batch.media:
        insert_rows(Media, [media for media, _ in batch.media])
        insert_rows(MediaFetch, [job for _, job in batch.media])
        for media, _ in batch.media:
            transaction.on_commit(partial(_enqueue_media, media.pk))
        batch.media = []
    _touch_conversations(batch.touches)
    batch.touches = {}
    if batch.replies:
        hooks.inbound_replies(batch.replies)
    batch.replies = []


# --- claiming and the loop ---------------------------------------------------------------------------


# Never-claimed rows and expired leases are asked apart: with an OR, the database read every due row
# and sorted them all for each batch (a cost growing with the backlog); each half walks the
# raw_event_due index in id order and stops at the batch size (expired leases are few). One statement
# picks, leases and returns the rows: no instances read before the UPDATE, one round trip.
_CLAIM_SQL = """
UPDATE ingest_rawevent SET claimed_until = %s, attempts = attempts + 1
WHERE id IN (
  SELECT id FROM (
    SELECT id FROM (
      SELECT id FROM ingest_rawevent WHERE poisoned_at IS NULL AND claimed_until IS NULL
      ORDER BY id LIMIT %s {lock}) AS fresh
    UNION ALL
    SELECT id FROM (
      SELECT id FROM ingest_rawevent WHERE poisoned_at IS NULL AND claimed_until < %s
      ORDER BY id LIMIT %s {lock}) AS expired
  ) AS due ORDER BY id LIMIT %s
)
RETURNING workspace_id, id, channel_id, body, attempts
"""
_CLAIMED = ("workspace_id", "id", "channel_id", "body", "attempts")


def default_batch_size() -> int:
    return BATCH_SIZE_POSTGRESQL if connection.vendor == "postgresql" else BATCH_SIZE


def claim(batch_size: int | None = None, lease: timedelta = LEASE) -> list[RawEvent]:
    """Takes up to ``batch_size`` due events for ``lease``, oldest first; concurrent drainers never get
    the same row (PostgreSQL: SKIP LOCKED; SQLite: IMMEDIATE transactions take turns)."""
    batch_size = batch_size or default_batch_size()
    moment = now()
    stamp = RawEvent._meta.get_field("claimed_until").get_db_prep_value
    lock = "FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    params = [
        stamp(moment + lease, connection),
        batch_size,
        stamp(moment, connection),
        batch_size,
        batch_size,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL.format(lock=lock), params)
        rows = sorted(cursor.fetchall(), key=lambda row: row[1])
    return [
        RawEvent.from_db(connection.alias, _CLAIMED, (workspace_id, pk, channel_id, Sealed(body), attempts))
        for workspace_id, pk, channel_id, body, attempts in rows
    ]


def drain_once(batch_size: int | None = None, lease: timedelta = LEASE) -> DrainResult:
    """Claims one batch and applies it: all in one transaction, or event by event if any fails. The
    erasure ledger is read once for the batch: an erasure recorded elsewhere is seen by the next."""
    with ledger.read_once():
        return _apply_claimed(claim(batch_size, lease))


def _apply_claimed(claimed: list[RawEvent]) -> DrainResult:
    result = DrainResult(claimed=len(claimed))
    if not claimed:
        return result
    parsed: list[tuple[RawEvent, wa.Webhook]] = []
    for event in claimed:
        try:
            parsed.append((event, parse_webhook(open_for_system(event, "body"))))
        except PayloadError as exc:
            _poison(event, f"unparseable: {exc}")
            result.poisoned += 1
        except CryptoError as exc:
            _poison(event, f"undecryptable: {type(exc).__name__}")
            result.poisoned += 1
    if not parsed:
        return result
    try:
        with transaction.atomic():
            batch = _Batch()
            _prefetch(batch, parsed)
            for event, webhook in parsed:
                _apply(batch, event, webhook)
            _flush(batch)
            _delete_applied([event.pk for event, _ in parsed])
        result.applied += len(parsed)
        result.dropped += batch.dropped
        return result
    except Exception as exc:
        forget_cached()
        log.info(
            "batch of %s events failed with %s; applying them one by one", len(parsed), type(exc).__name__
        )
    for event, webhook in parsed:
        try:
            with transaction.atomic():
                single = _Batch()
                _prefetch(single, [(event, webhook)])
                _apply(single, event, webhook)
                _flush(single)
                RawEvent.objects.filter(pk=event.pk).delete()
            result.applied += 1
            result.dropped += single.dropped
        except Skip as exc:
            _poison(event, str(exc))
            result.poisoned += 1
        except Exception as exc:
            if _retry_later(event, exc):
                result.retried += 1
            else:
                result.poisoned += 1
    return result


def _delete_applied(event_ids: Sequence[int]) -> None:
    in_ids, params = one_of("id", event_ids, "bigint[]")
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM ingest_rawevent WHERE {in_ids}", params)  # noqa: S608


def drain(batch_size: int | None = None, *, max_batches: int | None = None) -> DrainResult:
    """Drains until no event is due (or ``max_batches``); returns the totals."""
    total = DrainResult()
    batches = 0
    with _young_collections_spaced():
        while max_batches is None or batches < max_batches:
            step = drain_once(batch_size)
            total.add(step)
            batches += 1
            if step.claimed == 0:
                break
    return total


@contextmanager
def _young_collections_spaced() -> Iterator[None]:
    """The process's collector thresholds are global: two threads draining at once may restore each
    other's (a pace, never a correctness, matter)."""
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_COLLECTION_THRESHOLD), *older)
    try:
        yield
    finally:
        gc.set_threshold(young, *older)


def _poison(event: RawEvent, reason: str) -> None:
    RawEvent.objects.filter(pk=event.pk).update(poisoned_at=now(), reason=reason[:300], claimed_until=None)
    with transaction.atomic():
        record(
            "webhook.poisoned",
            actor=SYSTEM,
            workspace_id=event.workspace_id,
            target=("raw_event", event.pk),
            outcome=Outcome.FAILURE,
            reason=reason[:300],
        )


def _retry_later(event: RawEvent, exc: Exception) -> bool:
    """Backs off (the lease becomes the next attempt time); after MAX_ATTEMPTS the event is poison."""
    reason = f"failed {event.attempts} times, last with {type(exc).__name__}"
    log.warning("webhook event %s: %s", event.pk, reason)
    if event.attempts >= MAX_ATTEMPTS:
        _poison(event, reason)
        return False
    delay = timedelta(seconds=5 * 4 ** (event.attempts - 1))
    RawEvent.objects.filter(pk=event.pk).update(claimed_until=now() + delay, reason=reason)
    return True


def requeue_poison(event_id: int, workspace_id: int) -> bool:
    """Gives a poison event another chance (after a fix was deployed)."""
    return bool(
        RawEvent.objects.filter(pk=event_id, workspace_id=workspace_id, poisoned_at__isnull=False).update(
            poisoned_at=None, claimed_until=None, attempts=0, reason=""
        )
    )


# --- applying one webhook ----------------------------------------------------------------------------


def _apply(batch: _Batch, event: RawEvent, webhook: wa.Webhook) -> None:
    url_channel = _channel(batch, event.channel_id)
    if url_channel is None:
        return  # the channel was disconnected since: nothing to apply to
    for entry in webhook.entries:
        for change in entry.changes:
            _apply_change(batch, url_channel, entry, change)


def _channel(batch: _Batch, channel_id: int) -> Channel | None:
    if channel_id not in batch.channels:
        batch.channels[channel_id] = Channel.objects.filter(pk=channel_id).first()
    return batch.channels[channel_id]


def _channel_for_number(batch: _Batch, url_channel: Channel, phone_number_id: str) -> Channel | None:
    """Several numbers of one Meta app share a callback URL: accept another number only if it is a
    channel of the same workspace (its events could otherwise be injected into a foreign inbox)."""
    if phone_number_id == url_channel.phone_number_id:
        return url_channel
    key = (url_channel.workspace_id, phone_number_id)
    if key not in batch.by_number:
        batch.by_number[key] = Channel.objects.filter(
            workspace_id=url_channel.workspace_id, phone_number_id=phone_number_id
        ).first()
    return batch.by_number[key]


def _apply_change(batch: _Batch, url_channel: Channel, entry: wa.Entry, change: wa.Change) -> None:
    match change:
        case wa.MessagesChange():
            channel = _channel_for_number(batch, url_channel, change.metadata.phone_number_id)
            if channel is None:
                record(
                    "webhook.foreign_number",
                    actor=SYSTEM,
                    workspace_id=url_channel.workspace_id,
                    target=("channel", url_channel.pk),
                    outcome=Outcome.DENIED,
                    reason="event for a phone number that is not a channel of this workspace",
                )
                return
            names = {c.wa_id: c.profile_name for c in change.contacts if c.wa_id}
            for message in change.messages:
                _apply_message(batch, channel, message, names)
            for status in change.statuses:
                apply_status(channel, status)
            if change.errors:
                _channel_errors(channel, entry, change.errors)
        case wa.UserPreferencesChange():
            channel = url_channel
            if change.metadata is not None:
                channel = (
                    _channel_for_number(batch, url_channel, change.metadata.phone_number_id) or url_channel
                )
            names = {c.wa_id: c.profile_name for c in change.contacts if c.wa_id}
            for preference in change.preferences:
                _apply_preference(batch, channel, preference, names)
        case wa.PhoneNumberQualityUpdate():
            _apply_quality(url_channel, entry, change)
        case wa.AccountUpdate():
            _apply_account(url_channel, entry, change)
        case wa.UnknownChange():
            _notice(url_channel, entry, change.field, "", "", {}, payload=dict(change.value))
        case _:
            _template_notice(url_channel, entry, change)


# --- messages ------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            name.rstrip("_"): _jsonable(item)
            for name in _field_names(type(value))
            if (item := getattr(value, name)) not in (None, (), False)
        }
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


@cache  # dataclasses.fields() rebuilds its tuple on each call, for every message
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _body_and_payload(content: wa.Content) -> tuple[str | None, dict[str, Any]]:
    """The text a person reads, and everything else about the content."""
    payload: dict[str, Any] = _jsonable(content)
    body: str | None = None
    match content:
        case wa.Text(body=text):
            body = text
        case wa.Media(caption=caption):
            body = caption
            payload.pop("url", None)  # short-lived and useless once stored
        case wa.ButtonReply(title=title) | wa.ListReply(title=title):
            body = title
        case wa.QuickReply(text=text):
            body = text
        case wa.FlowReply(body=text) | wa.Order(text=text) | wa.System(body=text):
            body = text
        case wa.Reaction(emoji=emoji):
            body = emoji or None
            payload["removed"] = content.removed
        case wa.Location(name=name):
            body = name
    for key in ("body", "caption", "title", "text"):
        if key in payload and payload[key] == body:
            del payload[key]
    return body, payload


def _kind(message: wa.Message) -> str:
    if isinstance(message.content, wa.Unsupported):
        return "unsupported"
    return str(message.type.value)


def _apply_message(
    batch: _Batch, channel: Channel, message: wa.Message, names: dict[str, str | None]
) -> None:
    if message.from_ and (blocked := blocked_sender(batch.blocked, channel.workspace_id, message.from_)):
        _drop_blocked(batch, blocked, message)
        return
    match message.content:
        case wa.Edit():
            _flush(batch)
            _apply_edit(channel, message.content, message.timestamp)
            return
        case wa.Revoke():
            _flush(batch)
            _apply_revoke(channel, message.content.original_message_id, message.timestamp)
            return
    if (channel.pk, message.id) in batch.known:
        return  # already applied: Meta redelivered it
    sender = message.from_
    if not sender:
        raise Skip("message without a phone number (business-scoped user id only) is not supported yet")
    contact = _contact(batch, channel.workspace_id, sender, names.get(sender))
    conversation = _conversation(batch, channel, contact, message.timestamp)
    kind = _kind(message)
    body, payload = _body_and_payload(message.content)
    if message.context is not None:
        payload["context"] = _jsonable(message.context)
    if message.referral is not None:
        payload["referral"] = _jsonable(message.referral)
    if message.errors:
        payload["errors"] = _jsonable(message.errors)
    if message.from_user_id:
        payload["from_user_id"] = message.from_user_id
    reply_to = ""
    if isinstance(message.content, wa.Reaction):
        reply_to = message.content.message_id
    elif message.context is not None and message.context.message_id:
        reply_to = message.context.message_id
    row = _inbound_row(
        channel,
        conversation.pk,
        contact.pk,
        kind,
        message.id,
        reply_to[:200],
        message.timestamp,
        body,
        payload,
    )
    batch.messages.append(row)
    batch.known.add((channel.pk, message.id))
    _has_orphans(batch, channel)
    touch = batch.touches.setdefault(conversation.pk, _Touch(message.timestamp))
    touch.add(message.timestamp, inbound=kind not in _NOT_CONVERSATIONAL)
    if isinstance(message.content, wa.Media):
        _register_media(batch, row, message.content)
    if isinstance(message.content, wa.System) and message.content.new_wa_id:
        _change_number(contact, message.content.new_wa_id)
        batch.contacts.clear()
        batch.senders.clear()
        forget_cached()
    batch.woken.add(channel.workspace_id)
    if kind not in _NOT_CONVERSATIONAL:
        batch.replies.append(
            hooks.InboundReply(
                workspace_id=channel.workspace_id,
                contact_id=contact.pk,
                message_id=row.pk,
                wamid=message.id,
                at=message.timestamp,
                text=body if isinstance(message.content, wa.Text) else None,
                button_payload=_button_payload(message.content),
            )
        )


# Message's columns in model order, as _inbound_row passes them (checked at import: a new column
# fails loudly here rather than landing in the wrong place).
_MESSAGE_COLUMNS = (
    "workspace_id", "id", "conversation_id", "contact_id", "channel_id", "direction", "kind", "body",
    "payload", "wamid", "reply_to_wamid", "status", "error_code", "error_title", "sent_by_id", "sent_at",
    "status_at", "created_at",
)  # fmt: skip
if tuple(field.attname for field in Message._meta.concrete_fields) != _MESSAGE_COLUMNS:
    raise RuntimeError("inbox.Message's columns changed: update _MESSAGE_COLUMNS and _inbound_row")
_positional_message: Callable[..., Message] = Message  # the stubs know keyword construction only
_INBOUND, _RECEIVED = Message.Direction.INBOUND.value, Message.Status.RECEIVED.value  # plain str: no adapting


def _inbound_row(
    channel: Channel, conversation_id: int, contact_id: int, kind: str, wamid: str, reply_to: str,
    at: datetime, body: str | None, payload: dict[str, Any],
) -> Message:  # fmt: skip
    """A new inbound message row, built positionally: Django's keyword constructor (defaults, relation
    checks per argument) cost twice as much, about 9 µs per message."""
    columns: list[Any] = [
        channel.workspace_id, new_id(), conversation_id, contact_id, channel.pk, _INBOUND, kind, body,
        payload, wamid, reply_to, _RECEIVED, None, "", None, at, None, now(),
    ]  # fmt: skip
    row = _positional_message(*columns)
    Message.channel.field.set_cached_value(row, channel)  # an orphan check after the INSERT reads it
    return row


def _drop_blocked(batch: _Batch, contact: Contact, message: wa.Message) -> None:
    """A blocked number's message is not stored, edits nothing and fetches no media; only an opt-out
    keyword in it still reaches the consent ledger (the wamid is its evidence), so unblocking later
    cannot resume marketing the person refused."""
    batch.dropped += 1
    if isinstance(message.content, wa.Text) or _button_payload(message.content):
        text = message.content.body if isinstance(message.content, wa.Text) else None
        batch.replies.append(
            hooks.InboundReply(
                workspace_id=contact.workspace_id, contact_id=contact.pk, message_id=None,
                wamid=message.id, at=message.timestamp, text=text,
                button_payload=_button_payload(message.content), opt_out_only=True,
            )
        )  # fmt: skip


def _button_payload(content: object) -> str | None:
    """What a tapped button carries: a template quick reply's payload or an interactive reply's id."""
    if isinstance(content, wa.QuickReply):
        return content.payload
    if isinstance(content, wa.ButtonReply | wa.ListReply):
        return content.id
    return None


# Process-wide memory of committed contacts and conversations, so returning customers cost no query.
# Filled only after commit (a rolled-back row is never remembered) and dropped whenever a batch fails.
_KNOWN_CAP = 100_000
_known_contacts: dict[tuple[int, str, str | None], Contact] = {}
_known_conversations: dict[tuple[int, int], Conversation] = {}


def forget_cached() -> None:
    _known_contacts.clear()
    _known_conversations.clear()


def _remember_after_commit(cache: dict[Any, Any], key: Any, value: Any) -> None:
    _remember_all_after_commit(cache, {key: value})


def _remember_all_after_commit(cache: dict[Any, Any], items: dict[Any, Any]) -> None:
    def remember() -> None:
        if len(cache) + len(items) > _KNOWN_CAP:
            cache.clear()
        cache.update(items)

    if items:
        transaction.on_commit(remember)


def _contact(batch: _Batch, workspace_id: int, wa_id: str, name: str | None) -> Contact:
    """The sender's contact; one seen before with the same name costs nothing."""
    key = (workspace_id, wa_id, name)
    cached = batch.senders.get((workspace_id, wa_id)) or batch.contacts.get(key) or _known_contacts.get(key)
    if cached is None and name is None:
        cached = next(
            (c for (w, i, _), c in batch.contacts.items() if w == workspace_id and i == wa_id), None
        )
    if cached is not None:
        return cached
    try:
        contact = contact_for(workspace_id, wa_id, profile_name=name)
    except NormalisationError:
        raise Skip("sender id is not a phone number") from None
    batch.contacts[key] = contact
    _remember_after_commit(_known_contacts, key, contact)
    return contact


def _conversation(batch: _Batch, channel: Channel, contact: Contact, at: datetime) -> Conversation:
    key = (channel.pk, contact.pk)
    found = batch.conversations.get(key) or _known_conversations.get(key)
    if found is None:
        found = conversation_for(channel, contact, at=at)
        _remember_after_commit(_known_conversations, key, found)
    batch.conversations[key] = found
    return found


_TOUCH_SQL = """
UPDATE inbox_conversation SET
  last_message_at = MAX(last_message_at, %s),
  last_inbound_at = CASE WHEN %s IS NULL THEN last_inbound_at
                         ELSE MAX(COALESCE(last_inbound_at, %s), %s) END,
  unread = unread + %s,
  status = CASE WHEN %s = 0 OR status = 'pending' THEN status ELSE 'open' END,
  snoozed_until = CASE WHEN %s = 0 THEN snoozed_until ELSE NULL END
WHERE id = %s
"""

# PostgreSQL: the whole batch in one statement, one array per column.
_TOUCH_ALL_SQL = """
UPDATE inbox_conversation AS c SET
  last_message_at = GREATEST(c.last_message_at, t.last),
  last_inbound_at = CASE WHEN t.inbound IS NULL THEN c.last_inbound_at
                         ELSE GREATEST(COALESCE(c.last_inbound_at, t.inbound), t.inbound) END,
  unread = c.unread + t.unread,
  status = CASE WHEN t.inbound IS NULL OR c.status = 'pending' THEN c.status ELSE 'open' END,
  snoozed_until = CASE WHEN t.inbound IS NULL THEN c.snoozed_until ELSE NULL END
FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::integer[]) AS t(id, last, inbound, unread)
WHERE c.id = t.id
"""


def _touch_conversations(touches: dict[int, _Touch]) -> None:
    """Window, recency, unread count and reopening: one UPDATE for the batch on PostgreSQL, one
    parametrised UPDATE per conversation sent together on SQLite, in id order (two drainers lock
    shared rows in the same order). Times only move forward (GREATEST), so late or repeated events
    never move the window back, and concurrent drainers add up rather than overwrite."""
    if not touches:
        return
    ordered = sorted(touches.items())
    _audit_reopening([pk for pk, touch in ordered if touch.last_inbound_at is not None])
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            columns = zip(
                *((pk, t.last_message_at, t.last_inbound_at, t.unread) for pk, t in ordered), strict=True
            )
            cursor.execute(_TOUCH_ALL_SQL, [list(column) for column in columns])
            return
        ops = connection.ops
        rows = []
        for conversation_id, touch in ordered:
            last = ops.adapt_datetimefield_value(touch.last_message_at)
            inbound = ops.adapt_datetimefield_value(touch.last_inbound_at) if touch.last_inbound_at else None
            customer = 1 if touch.last_inbound_at is not None else 0
            rows.append((last, inbound, inbound, inbound, touch.unread, customer, customer, conversation_id))
        cursor.executemany(_TOUCH_SQL, rows)


# The conversations a customer's message is about to reopen. On PostgreSQL they are locked (in id
# order, as the touch UPDATE locks) and re-read after a concurrent drainer commits, so two drainers
# never both audit one reopening; SQLite's writers take turns.
_REOPENING_SQL = """
SELECT workspace_id, id, status FROM inbox_conversation WHERE {ids} AND status IN (%s, %s) ORDER BY id {lock}
"""
_REOPENED = (Conversation.Status.RESOLVED.value, Conversation.Status.SNOOZED.value)


def _audit_reopening(conversation_ids: Sequence[int]) -> None:
    """Audits, in the batch's transaction, each resolved or snoozed conversation a new message reopens:
    one indexed read per batch; an audit event only for a reopening, which is rare."""
    if not conversation_ids:
        return
    in_ids, params = one_of("id", conversation_ids, "bigint[]")
    lock = "FOR UPDATE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(_REOPENING_SQL.format(ids=in_ids, lock=lock), [*params, *_REOPENED])
        reopening = cursor.fetchall()
    for workspace_id, conversation_id, status in reopening:
        record("conversation.status_changed", actor=SYSTEM, workspace_id=workspace_id,
               target=("conversation", conversation_id), reason="customer wrote",
               details={"from": status, "to": Conversation.Status.OPEN.value})  # fmt: skip


def _register_media(batch: _Batch, message: Message, media: wa.Media) -> None:
    row = Media(
        workspace_id=message.workspace_id,
        message=message,
        contact_id=message.contact_id,
        meta_media_id=media.media_id[:64],
        mime_type=media.mime_type[:100],
        sha256=(media.sha256 or "")[:64],
        created_at=message.created_at,
    )
    row.filename = media.filename
    job = MediaFetch(workspace_id=message.workspace_id, media=row, next_attempt_at=message.created_at)
    batch.media.append((row, job))


def _enqueue_media(media_id: int) -> None:
    from chatrk.ingest.tasks import fetch_media

    try:
        fetch_media.enqueue(media_id)
    except Exception:
        log.warning("could not enqueue media fetch %s; the sweep will pick it up", media_id)


def _change_number(contact: Contact, new_wa_id: str) -> None:
    """The customer moved to a new number: the contact follows, unless the new number is already one."""
    from chatrk.crypto.queries import find_by_blind_index

    try:
        taken = find_by_blind_index(Contact, contact.workspace_id, "wa_id_index", new_wa_id)
    except NormalisationError:
        return
    if taken:
        return
    contact.wa_id = new_wa_id
    contact.save(update_fields=["wa_id", "wa_id_index"])


def _has_orphans(batch: _Batch, channel: Channel) -> bool:
    if channel.pk not in batch.orphans:
        batch.orphans[channel.pk] = Orphan.objects.filter(channel=channel).exists()
    return batch.orphans[channel.pk]


# --- edits, revokes, statuses ------------------------------------------------------------------------


def _dedup(*parts: object) -> str:
    return hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()


def _keep_orphan(channel: Channel, target: str, kind: Orphan.Kind, payload: dict[str, Any]) -> None:
    dedup = _dedup(kind, target, json.dumps(payload, sort_keys=True))
    orphan = Orphan(
        workspace_id=channel.workspace_id,
        channel=channel,
        target_wamid=target[:256],
        kind=kind,
        dedup_key=dedup,
        received_at=now(),
    )
    orphan.payload = payload
    Orphan.objects.bulk_create([orphan], ignore_conflicts=True)


def _apply_edit(channel: Channel, edit: wa.Edit, at: datetime) -> None:
    original = Message.objects.filter(channel=channel, wamid=edit.original_message_id).first()
    if edit.message is None:
        return
    body, payload = _body_and_payload(edit.message.content)
    if original is None:
        _keep_orphan(
            channel,
            edit.original_message_id,
            Orphan.Kind.EDIT,
            {"body": body, "payload": payload, "at": at.isoformat()},
        )
        return
    _edit(original, body, payload, at)


def _edit(original: Message, body: str | None, payload: dict[str, Any], at: datetime) -> None:
    if original.status == Message.Status.DELETED or original.direction != Message.Direction.INBOUND:
        return
    current = open_for_system(original, "payload") or {}
    edited_at = current.get("edited_at")
    if edited_at is not None and datetime.fromisoformat(edited_at) >= at:
        return  # an older edit arriving late, or this one again
    for key in ("context", "referral", "from_user_id"):
        if key in current:
            payload[key] = current[key]
    payload["edited_at"] = at.isoformat()
    original.body = body
    original.payload = payload
    original.save(update_fields=["body", "payload"])
    events.publish(
        original.workspace_id,
        "message.edited",
        message_id=original.pk,
        conversation_id=original.conversation_id,
    )


def _apply_revoke(channel: Channel, target: str, at: datetime) -> None:
    original = Message.objects.filter(channel=channel, wamid=target).first()
    if original is None:
        _keep_orphan(channel, target, Orphan.Kind.REVOKE, {"at": at.isoformat()})
        return
    _revoke(original, at)


def _revoke(original: Message, at: datetime) -> None:
    """The customer deleted their message: its content is erased, its place in the thread stays."""
    if original.status == Message.Status.DELETED:
        return
    original.body = None
    original.payload = {"revoked_at": at.isoformat()}
    original.status = Message.Status.DELETED
    original.status_at = at
    original.save(update_fields=["body", "payload", "status", "status_at"])
    from chatrk.ingest.media import erase_media

    erase_media(original)
    events.publish(
        original.workspace_id,
        "message.status",
        message_id=original.pk,
        conversation_id=original.conversation_id,
    )


def apply_status(channel: Channel, status: wa.Status) -> bool:
    """Applies one delivery status to our message; unknown wamids are kept as orphans for a while."""
    message = Message.objects.filter(channel=channel, wamid=status.id).first()
    error = status.errors[0] if status.errors else None
    if message is None and status.biz_opaque_callback_data:
        from chatrk.outbound.actions import reconcile_from_status

        # A send whose answer was lost ("outcome unknown"): the status proves it went out.
        if reconcile_from_status(channel.pk, status.biz_opaque_callback_data, status.id):
            message = Message.objects.filter(channel=channel, wamid=status.id).first()
    if message is None:
        if status.status in _STATUS_OF:
            _keep_orphan(
                channel,
                status.id,
                Orphan.Kind.STATUS,
                {
                    "status": status.status.value,
                    "at": status.timestamp.isoformat(),
                    "code": error.code if error else None,
                    "title": error.title if error else "",
                },
            )
        return False
    return advance_status(
        message,
        status.status,
        status.timestamp,
        error_code=error.code if error else None,
        error_title=error.title if error else "",
    )


def advance_status(
    message: Message, kind: StatusKind, at: datetime, *, error_code: int | None = None, error_title: str = ""
) -> bool:
    """Moves an outbound message's status forward only (sent < delivered < read; failed and deleted are
    final). A compare-and-set on the current status makes concurrent or repeated calls apply once.

    The sender calls this too (e.g. for ``sent``). Returns whether anything changed.
    """
    target = _STATUS_OF.get(kind)
    if target is None or message.direction != Message.Direction.OUTBOUND:
        return False
    current = Message.Status(message.status)
    if current in _FINAL:
        return False
    if target not in _FINAL and _RANK.get(target, 0) <= _RANK.get(current, 0):
        return False
    changes: dict[str, Any] = {"status": target, "status_at": at}
    if target == Message.Status.FAILED:
        info = describe_error(error_code)
        changes["error_code"] = error_code if error_code is not None else info.code
        changes["error_title"] = (error_title or info.title)[:200]
    if not Message.objects.filter(pk=message.pk, status=current).update(**changes):
        message.refresh_from_db(fields=["status"])
        return advance_status(message, kind, at, error_code=error_code, error_title=error_title)
    for name, value in changes.items():
        setattr(message, name, value)
    if target == Message.Status.FAILED and error_code == ERROR_MARKETING_OPT_OUT:
        hooks.marketing_send_refused(
            workspace_id=message.workspace_id, contact_id=message.contact_id, wamid=message.wamid or "", at=at
        )
    events.publish(
        message.workspace_id,
        "message.status",
        message_id=message.pk,
        conversation_id=message.conversation_id,
        status=str(target),
    )
    return True


def failure_reason(message: Message) -> str:
    """The plain-language reason for a failed message (from the error table, by its code)."""
    if message.status != Message.Status.FAILED:
        return ""
    return describe_error(message.error_code).reason


def apply_orphans(channel: Channel, wamid: str) -> int:
    """Applies statuses, edits and revokes that arrived before the message with ``wamid``.

    The drainer calls it for new inbound messages; the sender calls it right after storing the wamid
    Meta returned (statuses often overtake that commit). Returns how many were applied.
    """
    applied = 0
    with transaction.atomic():
        orphans = list(
            Orphan.objects.filter(channel=channel, target_wamid=wamid).order_by("received_at", "id")
        )
        message = Message.objects.filter(channel=channel, wamid=wamid).first()
        if message is None or not orphans:
            return 0
        for orphan in orphans:
            data = open_for_system(orphan, "payload")
            at = datetime.fromisoformat(data["at"])
            match orphan.kind:
                case Orphan.Kind.STATUS:
                    advance_status(
                        message,
                        StatusKind.parse(data["status"]),
                        at,
                        error_code=data.get("code"),
                        error_title=data.get("title") or "",
                    )
                case Orphan.Kind.EDIT:
                    _edit(message, data.get("body"), data.get("payload") or {}, at)
                case _:
                    _revoke(message, at)
            applied += 1
        Orphan.objects.filter(pk__in=[orphan.pk for orphan in orphans]).delete()
    return applied


def expire_orphans() -> int:
    deleted, _ = Orphan.objects.filter(received_at__lt=now() - ORPHAN_TTL).delete()
    return deleted


# --- preferences, errors, numbers, accounts, templates -----------------------------------------------


def _apply_preference(
    batch: _Batch, channel: Channel, preference: wa.UserPreference, names: dict[str, str | None]
) -> None:
    """Recorded as a system message in the conversation (deduplicated), then handed to the consent hook."""
    wamid = (
        "pref." + _dedup(preference.wa_id, preference.category, preference.value, preference.timestamp)[:48]
    )
    if Message.objects.filter(channel=channel, wamid=wamid).exists():
        return
    contact = _contact(batch, channel.workspace_id, preference.wa_id, names.get(preference.wa_id))
    conversation = _conversation(batch, channel, contact, preference.timestamp)
    row = Message(
        workspace_id=channel.workspace_id,
        conversation_id=conversation.pk,  # ids: assigning instances ran Django's relation checks per row
        contact_id=contact.pk,
        channel=channel,  # the instance: an orphan check after the INSERT reads row.channel
        direction=Message.Direction.INBOUND,
        kind="user_preferences",
        wamid=wamid,
        status=Message.Status.RECEIVED,
        sent_at=preference.timestamp,
        created_at=now(),
    )
    row.body = None
    row.payload = {
        "category": preference.category,
        "value": preference.value.value,
        "detail": preference.detail,
    }
    row.save(force_insert=True)
    _touch_conversations({conversation.pk: _Touch(preference.timestamp)})
    events.publish(channel.workspace_id, "message.new", message_id=row.pk, conversation_id=conversation.pk)
    hooks.marketing_preference_changed(
        workspace_id=channel.workspace_id,
        contact_id=contact.pk,
        preference=preference.value,
        at=preference.timestamp,
    )


def _notice(
    channel: Channel,
    entry: wa.Entry,
    kind: str,
    event: str,
    template_id: str,
    details: dict[str, Any],
    *,
    payload: dict[str, Any] | None = None,
) -> ChannelNotice | None:
    """Stores a notice once (its dedup key is its content and Meta's time); None if it was already there."""
    dedup = _dedup(
        kind,
        event,
        template_id,
        json.dumps(details, sort_keys=True, default=str),
        json.dumps(payload, sort_keys=True, default=str),
        entry.time,
    )
    if ChannelNotice.objects.filter(channel=channel, dedup_key=dedup).exists():
        return None
    notice = ChannelNotice(
        workspace_id=channel.workspace_id,
        channel=channel,
        kind=kind[:48],
        event=event[:48],
        template_id=template_id[:64],
        details=details,
        dedup_key=dedup,
        occurred_at=entry.time,
        received_at=now(),
    )
    notice.payload = payload
    notice.save(force_insert=True)
    return notice


def _template_notice(channel: Channel, entry: wa.Entry, change: wa.Change) -> None:
    """Template status, quality, category and component updates: kept as a notice and applied to the
    workspace's templates once (a duplicate notice changes nothing)."""
    match change:
        case wa.TemplateStatusUpdate():
            kind, event = "message_template_status_update", change.event.value
        case wa.TemplateQualityUpdate():
            kind, event = "message_template_quality_update", change.new.value
        case wa.TemplateCategoryUpdate():
            kind, event = "template_category_update", change.new_category.value
        case wa.TemplateComponentsUpdate():
            kind, event = "message_template_components_update", ""
        case _:
            return
    details: dict[str, Any] = _jsonable(change)
    template = details.pop("template", {})
    details.update(name=template.get("name"), language=template.get("language"))
    target = _waba_channel(channel, entry)
    if _notice(target, entry, kind, event, str(template.get("id", "")), details) is not None:
        from chatrk.msgtemplates.actions import apply_template_record

        apply_template_record(target.workspace_id, entry.id, change, at=entry.time)


def _waba_channel(channel: Channel, entry: wa.Entry) -> Channel:
    """The URL's channel, or a channel of the same workspace whose WABA the entry names."""
    if entry.id == channel.waba_id:
        return channel
    return (
        Channel.objects.filter(workspace_id=channel.workspace_id, waba_id=entry.id).order_by("id").first()
        or channel
    )


def _channel_errors(channel: Channel, entry: wa.Entry, errors: Iterable[wa.ErrorDetail]) -> None:
    """Value-level errors (app or account problems, e.g. 130429): kept on the channel and audited."""
    for error in errors:
        info = describe_error(error.code)
        notice = _notice(
            channel,
            entry,
            "errors",
            str(error.code),
            "",
            {"code": error.code, "title": (error.title or info.title)[:200], "reason": info.reason},
        )
        if notice is not None:
            record(
                "channel.webhook_error",
                actor=SYSTEM,
                workspace_id=channel.workspace_id,
                target=("channel", channel.pk),
                outcome=Outcome.FAILURE,
                reason=info.reason,
                details={"code": error.code},
            )


_TIER_EVENTS = {PhoneQualityEvent.UPGRADE, PhoneQualityEvent.DOWNGRADE, PhoneQualityEvent.ONBOARDING}


def _apply_quality(url_channel: Channel, entry: wa.Entry, change: wa.PhoneNumberQualityUpdate) -> None:
    channel = url_channel
    digits = "".join(ch for ch in (change.display_phone_number or "") if ch.isdigit())
    if digits and digits != "".join(ch for ch in url_channel.display_phone_number if ch.isdigit()):
        for candidate in Channel.objects.filter(workspace_id=url_channel.workspace_id):
            if "".join(ch for ch in candidate.display_phone_number if ch.isdigit()) == digits:
                channel = candidate
                break
    notice = _notice(channel, entry, "phone_number_quality_update", change.event.value, "", _jsonable(change))
    if notice is None:
        return
    fields = ["health_checked_at"]
    if change.current_limit is not None and (change.event in _TIER_EVENTS or not channel.messaging_tier):
        channel.messaging_tier = change.current_limit.value
        fields.append("messaging_tier")
    if change.event == PhoneQualityEvent.THROUGHPUT_UPGRADE:
        channel.throughput_level = "HIGH"
        fields.append("throughput_level")
    if change.event == PhoneQualityEvent.FLAGGED:
        channel.quality_rating = "RED"
        fields.append("quality_rating")
    elif change.event == PhoneQualityEvent.UNFLAGGED:
        channel.quality_rating = "GREEN"
        fields.append("quality_rating")
    channel.health_checked_at = now()
    channel.save(update_fields=fields)
    record(
        "channel.quality_update",
        actor=SYSTEM,
        workspace_id=channel.workspace_id,
        target=("channel", channel.pk),
        details={"event": change.event.value},
    )


def _apply_account(url_channel: Channel, entry: wa.Entry, change: wa.AccountUpdate) -> None:
    channels = list(Channel.objects.filter(workspace_id=url_channel.workspace_id, waba_id=entry.id)) or [
        url_channel
    ]
    health: str | None = None
    match change.event:
        case AccountEvent.ACCOUNT_RESTRICTION:
            health = Channel.Health.RESTRICTED if change.restrictions else Channel.Health.CONNECTED
        case AccountEvent.DISABLED_UPDATE | AccountEvent.ACCOUNT_DELETED:
            health = Channel.Health.DISCONNECTED
    for channel in channels:
        if _notice(channel, entry, "account_update", change.event.value, "", _jsonable(change)) is None:
            continue
        if health is not None and channel.health != health:
            channel.health = health
            channel.health_checked_at = now()
            channel.save(update_fields=["health", "health_checked_at"])
        record(
            "channel.account_update",
            actor=SYSTEM,
            workspace_id=channel.workspace_id,
            target=("channel", channel.pk),
            details={"event": change.event.value},
        )
