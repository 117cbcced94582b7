"""Inbox actions shared by ingestion, sending and the API: channels, contacts, conversations.

Each runs inside the caller's transaction (or its own) and records its audit event there.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.db import IntegrityError, connection, transaction

from chatrk.audit.actions import SYSTEM, Actor, Origin, record
from chatrk.audit.models import Outcome
from chatrk.core.bulk import insert_rows
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Perm, role_allows
from chatrk.crypto.blind import NORMALISERS, NormalisationError
from chatrk.crypto.envelope import Sealed, key_id_of
from chatrk.crypto.errors import SubjectShredded
from chatrk.crypto.fields import BlindIndexField, open_for_system, scope_of
from chatrk.crypto.keyring import create_subject_keys, preload
from chatrk.crypto.queries import find_by_blind_index
from chatrk.inbox import names, work
from chatrk.inbox.errors import InboxError
from chatrk.inbox.events import publish
from chatrk.inbox.models import Channel, Contact, Conversation, Counter
from chatrk.whatsapp.client import GraphClient, GraphSettings, PhoneNumberInfo
from chatrk.whatsapp.errors import FailureKind, GraphError, RetryClass
from chatrk.whatsapp.messages import InvalidRequest

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    name: str
    phone_number_id: str
    waba_id: str
    display_phone_number: str
    access_token: str
    app_secret: str
    graph_url: str = "https://graph.facebook.com"
    api_version: str = "v23.0"


def connect_channel(by: Membership, spec: ChannelSettings, *, origin: Origin) -> Channel:
    """Stores a WhatsApp number with its credentials encrypted and a fresh verify token and webhook key."""
    return _connect(by.workspace_id, spec, actor=Actor.user(by.user_id), origin=origin)


def connect_channel_from_terminal(workspace_id: int, spec: ChannelSettings) -> Channel:
    """The same, by whoever runs ``chatrk connect-channel`` on the server (recorded as the system)."""
    return _connect(workspace_id, spec, actor=SYSTEM, origin=Origin())


def _connect(workspace_id: int, spec: ChannelSettings, *, actor: Actor, origin: Origin) -> Channel:
    if not spec.phone_number_id.isdigit() or not spec.waba_id.isdigit():
        raise InboxError(
            "Phone number id and WhatsApp Business Account id are numbers from Meta.", field="phone_number_id"
        )
    if not spec.access_token.strip() or not spec.app_secret.strip():
        raise InboxError("The access token and the app secret are both needed.", field="access_token")
    if Channel.objects.filter(phone_number_id=spec.phone_number_id).exists():
        raise InboxError("This phone number id is already connected.", field="phone_number_id")
    channel = Channel(
        workspace_id=workspace_id,
        name=spec.name.strip() or spec.display_phone_number,
        phone_number_id=spec.phone_number_id,
        waba_id=spec.waba_id,
        display_phone_number=spec.display_phone_number,
        graph_url=spec.graph_url.rstrip("/"),
        api_version=spec.api_version,
        webhook_key=secrets.token_urlsafe(32),
        created_at=now(),
    )
    channel.access_token = spec.access_token.strip()
    channel.app_secret = spec.app_secret.strip()
    channel.verify_token = secrets.token_urlsafe(32)
    with transaction.atomic():
        channel.save()
        record("channel.connected", actor=actor, workspace_id=workspace_id,
               target=("channel", channel.pk), origin=origin)  # fmt: skip
    return channel


def contact_for(workspace_id: int, wa_id: str, *, profile_name: str | None = None) -> Contact:
    """The workspace's contact for a WhatsApp id (legacy Brazil/Mexico forms included), created if new.

    Found through the blind index; a newer profile name replaces the stored one.
    """
    found = find_by_blind_index(Contact, workspace_id, "wa_id_index", wa_id)
    if found:
        contact = found[0]
        if profile_name is not None and open_for_system(contact, "profile_name") != profile_name:
            contact.profile_name = profile_name
            with transaction.atomic():
                contact.save(update_fields=["profile_name"])
                names.index_name(contact, profile_name)
        return contact
    contact = Contact(workspace_id=workspace_id, created_at=now())
    contact.wa_id = wa_id
    contact.profile_name = profile_name
    with transaction.atomic():
        contact.save()
        names.index_name(contact, profile_name)
    return contact


def contacts_for(workspace_id: int, wanted: Mapping[str, str | None]) -> dict[str, Contact]:
    """``contact_for`` for many WhatsApp ids at once (a drain batch's senders, each with its latest
    profile name): one blind-index query for all, their keys loaded in one query, new contacts and
    their keys inserted together. Two forms of one number get the same contact; ids that are not
    phone numbers are left out (``contact_for`` refuses them)."""
    field = Contact._meta.get_field("wa_id_index")
    assert isinstance(field, BlindIndexField)
    normalise = NORMALISERS[field.normaliser]
    forms: dict[str, list[str]] = {}  # normalised number -> the ids as sent
    for wa_id in wanted:
        try:
            forms.setdefault(normalise(wa_id), []).append(wa_id)
        except NormalisationError:
            continue
    found = _contacts_by_number(workspace_id, field, forms)
    fresh: list[Contact] = []
    result: dict[str, Contact] = {}
    for number, ids in forms.items():
        name = next((wanted[wa_id] for wa_id in reversed(ids) if wanted[wa_id] is not None), None)
        contact = found.get(number)
        if contact is None:
            contact = Contact(workspace_id=workspace_id, created_at=now())
            contact.wa_id = ids[0]
            contact.profile_name = name
            fresh.append(contact)
        elif name is not None and open_for_system(contact, "profile_name") != name:
            _rename(contact, name)
        result.update(dict.fromkeys(ids, contact))
    _create_contacts(workspace_id, fresh)
    return result


def _contacts_by_number(
    workspace_id: int, field: BlindIndexField, forms: Mapping[str, list[str]]
) -> dict[str, Contact]:
    """The stored contacts of these normalised numbers, confirmed by decrypting (the index is truncated)."""
    if not forms:
        return {}
    indexes = {field.value_for(workspace_id, number) for number in forms}
    _lock_numbers(workspace_id, indexes)
    candidates = list(
        Contact.objects.for_workspace(workspace_id).filter(wa_id_index__in=indexes).order_by("id")
    )
    preload({key_id_of(row.wa_id) for row in candidates if isinstance(row.wa_id, Sealed)})
    normalise = NORMALISERS[field.normaliser]
    found: dict[str, Contact] = {}
    for row in candidates:
        plaintext = open_for_system(row, "wa_id")
        with contextlib.suppress(NormalisationError):
            found.setdefault(normalise(plaintext), row)
    return {number: found[number] for number in forms if number in found}


# pg_advisory_xact_lock(class, key) class of "a contact's number" ("ct"); keys are folded to 32 bits.
_NUMBER_LOCK_CLASS = 0x6374


def _lock_numbers(workspace_id: int, indexes: set[int]) -> None:
    """PostgreSQL: two drainers must not both create a contact for one new number, so each takes a
    lock per number before reading (all in one statement and in order, so two batches cannot
    deadlock; a folded key shared by two numbers only makes one wait). SQLite already serialises
    writers (transactions are IMMEDIATE)."""
    if connection.vendor != "postgresql" or not indexes:
        return
    keys = sorted({_fold(f"{workspace_id}:{index}") for index in indexes})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, key) FROM (SELECT unnest(%s::int[]) AS key ORDER BY 1) AS keys",
            [_NUMBER_LOCK_CLASS, keys],
        )


def _fold(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big", signed=True)


def _rename(contact: Contact, name: str) -> None:
    contact.profile_name = name
    with transaction.atomic():
        contact.save(update_fields=["profile_name"])
        names.index_name(contact, name)


def _create_contacts(workspace_id: int, fresh: list[Contact]) -> None:
    """New contacts with their own keys: one INSERT for the keys, one for the rows, one for name words."""
    if not fresh:
        return
    scope = scope_of(Contact)
    create_subject_keys(workspace_id, [scope.subject_ref(contact) for contact in fresh])
    named = [(contact, open_for_system(contact, "profile_name")) for contact in fresh]
    insert_rows(Contact, fresh)
    names.index_new_names(named)


CONTACT_NOTES_MAX = 2000


def set_contact_notes(contact: Contact, notes: str, *, actor: Actor, origin: Origin | None = None) -> Contact:
    """Replaces the team's notes about a person (encrypted under their key; empty clears them)."""
    text = notes.strip()
    if len(text) > CONTACT_NOTES_MAX:
        raise InboxError(f"Notes are limited to {CONTACT_NOTES_MAX} characters.", field="notes")
    with transaction.atomic():
        locked = (
            Contact.objects.select_for_update()
            .filter(workspace_id=contact.workspace_id, pk=contact.pk)
            .first()
        )
        if locked is None:
            raise InboxError("No such contact.")
        locked.notes = text or None
        locked.save(update_fields=["notes"])
        record("contact.notes_changed", actor=actor, workspace_id=locked.workspace_id,
               target=("contact", locked.pk), origin=origin, details={"length": len(text)})  # fmt: skip
    return locked


def reindex_names(workspace_id: int, *, batch: int = 500) -> int:
    """Rewrites every contact's name words (names stored before the words were kept, or after the
    workspace's index key changed). Returns the number of contacts done."""
    done, last = 0, 0
    while True:
        rows = list(Contact.objects.for_workspace(workspace_id).filter(pk__gt=last).order_by("pk")[:batch])
        if not rows:
            return done
        with transaction.atomic():
            for contact in rows:
                try:
                    name = open_for_system(contact, "profile_name")
                except SubjectShredded:
                    name = None  # erased: nothing to find it by
                names.index_name(contact, name if isinstance(name, str) else None)
            record("inbox.names_reindexed", actor=SYSTEM, workspace_id=workspace_id,
                   details={"contacts": len(rows)})  # fmt: skip
        done, last = done + len(rows), rows[-1].pk


def conversation_for(channel: Channel, contact: Contact, *, at: datetime | None = None) -> Conversation:
    """The thread between this number and this contact, created with the workspace's next number (and
    given to the next member in the rota when the channel assigns automatically: ``work.auto_assign``,
    which re-reads the setting under the channel's lock)."""
    existing = Conversation.objects.filter(channel=channel, contact=contact).first()
    if existing is not None:
        return existing
    moment = at or now()
    try:
        with transaction.atomic():
            created = Conversation.objects.create(
                workspace_id=channel.workspace_id,
                number=next_number(channel.workspace_id, "conversation"),
                channel=channel,
                contact=contact,
                last_message_at=moment,
                created_at=moment,
            )
            return work.auto_assign(created) if channel.auto_assign else created
    except IntegrityError:  # a concurrent drainer created it first
        return Conversation.objects.get(channel=channel, contact=contact)


def conversations_for(channel: Channel, firsts: Mapping[Contact, datetime]) -> dict[int, Conversation]:
    """``conversation_for`` for many contacts of one number at once (a drain batch), by contact id:
    one query for the existing threads; the new ones numbered together and inserted in one statement
    (``firsts``: each contact's first message time). A number that assigns round-robin makes them one
    by one, under the channel's lock. A thread made meanwhile by another drainer fails the INSERT,
    and with it the batch, which the drainer then applies event by event."""
    found = {
        row.contact_id: row
        for row in Conversation.objects.for_workspace(channel.workspace_id).filter(
            channel=channel, contact_id__in=[contact.pk for contact in firsts]
        )
    }
    missing = [(contact, at) for contact, at in firsts.items() if contact.pk not in found]
    if not missing:
        return found
    if channel.auto_assign:
        for contact, at in missing:
            found[contact.pk] = conversation_for(channel, contact, at=at)
        return found
    numbers = next_numbers(channel.workspace_id, "conversation", len(missing))
    created = [
        Conversation(
            workspace_id=channel.workspace_id, number=number, channel=channel, contact=contact,
            last_message_at=at, created_at=at,
        )
        for number, (contact, at) in zip(numbers, missing, strict=True)
    ]  # fmt: skip
    insert_rows(Conversation, created)
    found.update((row.contact_id, row) for row in created)
    return found


def next_number(workspace_id: int, name: str) -> int:
    """The next value of a per-workspace counter; the UPDATE's row lock serialises concurrent callers."""
    return next_numbers(workspace_id, name, 1)[0]


def next_numbers(workspace_id: int, name: str, count: int) -> range:
    """The next ``count`` values of a per-workspace counter, taken together (a drain batch's new
    conversations). One statement once the counter exists (UPDATE … RETURNING: SQLite ≥ 3.35, PostgreSQL).
    """
    with transaction.atomic():
        value = _increment(workspace_id, name, count)
        if value is None:  # the workspace's first: make the row, then count
            Counter.objects.get_or_create(workspace_id=workspace_id, name=name)
            value = _increment(workspace_id, name, count)
        return range(int(value) - count + 1, int(value) + 1)


def _increment(workspace_id: int, name: str, count: int) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inbox_counter SET value = value + %s"
            " WHERE workspace_id = %s AND name = %s RETURNING value",
            [count, workspace_id, name],
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def window_closes_at(conversation: Conversation) -> datetime | None:
    """When free-form replies stop being allowed (24 h after the customer's last message), if ever opened."""
    if conversation.last_inbound_at is None:
        return None
    return conversation.last_inbound_at + CUSTOMER_SERVICE_WINDOW


def window_is_open(conversation: Conversation, at: datetime | None = None) -> bool:
    closes = window_closes_at(conversation)
    return closes is not None and (at or now()) < closes


# --- conversations: assignment and status -----------------------------------------------------------


def assign_conversation(
    conversation: Conversation, assignee: Membership | None, *, actor: Actor, origin: Origin
) -> Conversation:
    """Gives the conversation to a member who may reply (or to nobody)."""
    if assignee is not None:
        if assignee.workspace_id != conversation.workspace_id:
            raise InboxError("No such member.", field="member_id")
        if not role_allows(assignee.role, Perm.REPLY_INBOX):
            raise InboxError("This member's role cannot answer conversations.", field="member_id")
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        new_assignee = assignee.user_id if assignee else None
        if locked.assignee_id == new_assignee:
            return locked  # nothing changes: no record, no event
        locked.assignee_id = new_assignee
        locked.save(update_fields=["assignee"])
        record("conversation.assigned", actor=actor, workspace_id=locked.workspace_id,
               target=("conversation", locked.pk), origin=origin,
               details={"member": assignee.pk if assignee else None})  # fmt: skip
        work.record_event(
            locked, work.assignment_event(new_assignee, actor), by_user_id=work.actor_user_id(actor)
        )
        publish(locked.workspace_id, "conversation.updated", conversation_id=locked.pk)
    return locked


def set_conversation_status(
    conversation: Conversation, status: str, *, snoozed_until: datetime | None = None, actor: Actor,
    origin: Origin,
) -> Conversation:  # fmt: skip
    """Opens, parks (pending), snoozes until a moment in the future, or resolves a conversation."""
    if status not in Conversation.Status.values:
        raise InboxError("Unknown status.", field="status")
    if status == Conversation.Status.SNOOZED:
        if snoozed_until is None or snoozed_until.tzinfo is None or snoozed_until <= now():
            raise InboxError(
                "Snoozing needs a moment in the future, with its time zone.", field="snoozed_until"
            )
    elif snoozed_until is not None:
        raise InboxError("Only a snoozed conversation has a snooze time.", field="snoozed_until")
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        previous = locked.status
        locked.status = status
        locked.snoozed_until = snoozed_until
        locked.save(update_fields=["status", "snoozed_until"])
        record("conversation.status_changed", actor=actor, workspace_id=locked.workspace_id,
               target=("conversation", locked.pk), origin=origin,
               details={"from": previous, "to": status})  # fmt: skip
        work.record_event(locked, work.status_event(status, snoozed_until, actor),
                          by_user_id=work.actor_user_id(actor))  # fmt: skip
        publish(locked.workspace_id, "conversation.updated", conversation_id=locked.pk)
    return locked


def mark_conversation_read(conversation: Conversation, *, actor: Actor, origin: Origin) -> bool:
    """A member opened the conversation: its unread count goes to zero and, unless the channel's switch
    is off, the customer gets blue ticks (sent after commit by a task). False if nothing was unread."""
    from chatrk.outbound import receipts

    with transaction.atomic():
        cleared = Conversation.objects.filter(pk=conversation.pk, unread__gt=0).update(unread=0)
        if cleared:
            owed = receipts.owe(conversation)
            record("conversation.read", actor=actor, workspace_id=conversation.workspace_id,
                   target=("conversation", conversation.pk), origin=origin,
                   details={"read_receipt": owed})  # fmt: skip
            publish(conversation.workspace_id, "conversation.updated", conversation_id=conversation.pk)
    conversation.unread = 0
    return bool(cleared)


# --- channel health ---------------------------------------------------------------------------------


def check_channel_health(
    channel: Channel, *, actor: Actor, origin: Origin, transport: httpx.BaseTransport | None = None
) -> Channel:
    """Asks the Graph API for the number's quality rating, throughput and tier and stores them.

    Error 190 (the token expired or was revoked) marks the channel "re-authorisation needed"; other
    failures leave the stored health alone and raise ``InboxError`` with a plain reason.
    """
    settings = GraphSettings(base_url=channel.graph_url, api_version=channel.api_version)
    failure: GraphError | None = None
    info: PhoneNumberInfo | None = None
    try:
        with GraphClient(
            open_for_system(channel, "access_token"), settings=settings, transport=transport
        ) as client:
            info = client.phone_number_info(channel.phone_number_id)
    except GraphError as error:
        failure = error
    except InvalidRequest:
        failure = GraphError(kind=FailureKind.LIMIT, retry_class=RetryClass.REAUTHORISE, code=190)
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        locked.health_checked_at = now()
        if info is not None:
            locked.quality_rating = info.quality_rating.value
            locked.throughput_level = info.throughput.value
            locked.messaging_tier = info.messaging_limit_tier.value
            locked.health = _health_from_status(info.status)
        elif failure is not None and (failure.code == 190 or failure.retry_class == RetryClass.REAUTHORISE):
            locked.health = Channel.Health.REAUTHORISE
        locked.save()
        record("channel.health_checked", actor=actor, workspace_id=locked.workspace_id,
               target=("channel", locked.pk), origin=origin,
               outcome=Outcome.SUCCESS if info else Outcome.FAILURE,
               details={"health": locked.health, "code": failure.code if failure else None})  # fmt: skip
    if failure is not None and locked.health != Channel.Health.REAUTHORISE:
        raise InboxError(f"Meta could not be asked about this number: {failure.reason}")
    return locked


def _health_from_status(status: str | None) -> str:
    match (status or "").upper():
        case "CONNECTED" | "" | "PENDING":
            return Channel.Health.CONNECTED
        case "FLAGGED" | "RESTRICTED" | "RATE_LIMITED":
            return Channel.Health.RESTRICTED
        case "DISCONNECTED" | "DELETED" | "BANNED" | "UNVERIFIED":
            return Channel.Health.DISCONNECTED
        case _:
            return Channel.Health.CONNECTED


def replace_channel_token(by: Membership, channel: Channel, access_token: str, *, origin: Origin) -> Channel:
    """Re-authorises a number with a new access token (stored encrypted); the caller then checks its
    health, which marks it "re-authorisation needed" again if Meta refuses this token too."""
    token = access_token.strip()
    if not token:
        raise InboxError("Paste the new access token.", field="access_token")
    with transaction.atomic():
        locked = (
            Channel.objects.select_for_update().filter(workspace_id=by.workspace_id, pk=channel.pk).first()
        )
        if locked is None:
            raise InboxError("No such channel.")
        locked.access_token = token
        locked.health = Channel.Health.CONNECTED
        locked.save(update_fields=["access_token", "health"])
        record("channel.token_replaced", actor=Actor.user(by.user_id), workspace_id=locked.workspace_id,
               target=("channel", locked.pk), origin=origin)  # fmt: skip
    return locked


def point_channel_at(channel: Channel, graph_url: str, *, actor: Actor, origin: Origin) -> Channel:
    """Moves a channel to another Graph API address (the demo's emulator listens on a new port each run)."""
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        if locked.graph_url != graph_url.rstrip("/"):
            locked.graph_url = graph_url.rstrip("/")
            locked.save(update_fields=["graph_url"])
            record("channel.endpoint_changed", actor=actor, workspace_id=locked.workspace_id,
                   target=("channel", locked.pk), origin=origin)  # fmt: skip
    return locked


def update_channel_health(
    channel: Channel, *, health: str | None = None, quality_rating: str | None = None,
    throughput_level: str | None = None, messaging_tier: str | None = None, actor: Actor = SYSTEM,
    reason: str = "",
) -> Channel:  # fmt: skip
    """Health learnt elsewhere: quality and account webhooks (ingestion), or a send that got error 190
    (the sender: ``health=Channel.Health.REAUTHORISE``). Only the values given change."""
    changes = {
        "health": health, "quality_rating": quality_rating, "throughput_level": throughput_level,
        "messaging_tier": messaging_tier,
    }  # fmt: skip
    given = {name: value for name, value in changes.items() if value is not None}
    if "health" in given and given["health"] not in Channel.Health.values:
        raise InboxError("Unknown channel health.")
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        changed = {name: value for name, value in given.items() if getattr(locked, name) != value}
        if changed:
            for name, value in changed.items():
                setattr(locked, name, value)
            locked.save(update_fields=list(changed))
            record("channel.health_changed", actor=actor, workspace_id=locked.workspace_id,
                   target=("channel", locked.pk), reason=reason[:200],
                   details={name: str(value) for name, value in changed.items()})  # fmt: skip
    return locked
