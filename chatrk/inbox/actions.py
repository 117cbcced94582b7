"""Inbox actions shared by ingestion, sending and the API: channels, contacts, conversations.

Each runs inside the caller's transaction (or its own) and records its audit event there.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from chatrk.audit.actions import Actor, Origin, record
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.crypto.queries import find_by_blind_index
from chatrk.inbox.errors import InboxError
from chatrk.inbox.models import Channel, Contact, Conversation, Counter

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
    if not spec.phone_number_id.isdigit() or not spec.waba_id.isdigit():
        raise InboxError(
            "Phone number id and WhatsApp Business Account id are numbers from Meta.", field="phone_number_id"
        )
    if Channel.objects.filter(phone_number_id=spec.phone_number_id).exists():
        raise InboxError("This phone number id is already connected.", field="phone_number_id")
    channel = Channel(
        workspace_id=by.workspace_id,
        name=spec.name.strip() or spec.display_phone_number,
        phone_number_id=spec.phone_number_id,
        waba_id=spec.waba_id,
        display_phone_number=spec.display_phone_number,
        graph_url=spec.graph_url.rstrip("/"),
        api_version=spec.api_version,
        webhook_key=secrets.token_urlsafe(32),
        created_at=now(),
    )
    channel.access_token = spec.access_token
    channel.app_secret = spec.app_secret
    channel.verify_token = secrets.token_urlsafe(32)
    with transaction.atomic():
        channel.save()
        record("channel.connected", actor=Actor.user(by.user_id), workspace_id=by.workspace_id,
               target=("channel", channel.pk), origin=origin)  # fmt: skip
    return channel


def contact_for(workspace_id: int, wa_id: str, *, profile_name: str | None = None) -> Contact:
    """The workspace's contact for a WhatsApp id (legacy Brazil/Mexico forms included), created if new.

    Found through the blind index; a newer profile name replaces the stored one.
    """
    found = find_by_blind_index(Contact, workspace_id, "wa_id_index", wa_id)
    if found:
        contact = found[0]
        if profile_name is not None:
            from chatrk.crypto.fields import open_for_system

            if open_for_system(contact, "profile_name") != profile_name:
                contact.profile_name = profile_name
                contact.save(update_fields=["profile_name"])
        return contact
    contact = Contact(workspace_id=workspace_id, created_at=now())
    contact.wa_id = wa_id
    contact.profile_name = profile_name
    contact.save()
    return contact


def conversation_for(channel: Channel, contact: Contact, *, at: datetime | None = None) -> Conversation:
    """The thread between this number and this contact, created with the workspace's next number."""
    existing = Conversation.objects.filter(channel=channel, contact=contact).first()
    if existing is not None:
        return existing
    moment = at or now()
    try:
        with transaction.atomic():
            return Conversation.objects.create(
                workspace_id=channel.workspace_id,
                number=next_number(channel.workspace_id, "conversation"),
                channel=channel,
                contact=contact,
                last_message_at=moment,
                created_at=moment,
            )
    except IntegrityError:  # a concurrent drainer created it first
        return Conversation.objects.get(channel=channel, contact=contact)


def next_number(workspace_id: int, name: str) -> int:
    """The next value of a per-workspace counter; the row lock serialises concurrent callers."""
    with transaction.atomic():
        Counter.objects.get_or_create(workspace_id=workspace_id, name=name)
        counter = Counter.objects.select_for_update().get(workspace_id=workspace_id, name=name)
        counter.value += 1
        counter.save(update_fields=["value"])
        return counter.value


def window_closes_at(conversation: Conversation) -> datetime | None:
    """When free-form replies stop being allowed (24 h after the customer's last message), if ever opened."""
    if conversation.last_inbound_at is None:
        return None
    return conversation.last_inbound_at + CUSTOMER_SERVICE_WINDOW


def window_is_open(conversation: Conversation, at: datetime | None = None) -> bool:
    closes = window_closes_at(conversation)
    return closes is not None and (at or now()) < closes
