"""Tenant-scoped readers for the inbox: every query takes the workspace first.

Lists are keyset-paginated (never OFFSET): a page ends with a cursor naming the last row's sort key, and
the next page starts strictly after it, so rows that arrive meanwhile neither repeat nor vanish.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from chatrk.core.models import Membership
from chatrk.core.roles import Perm, role_allows
from chatrk.crypto.blind import NormalisationError
from chatrk.crypto.queries import find_by_blind_index
from chatrk.inbox.models import Channel, Contact, Conversation, ConversationLabel, Message

MAX_ID = 2**63 - 1


class BadCursor(ValueError):
    """A cursor that this server did not hand out."""


@dataclass(frozen=True, slots=True)
class Page[M]:
    rows: list[M]
    next_cursor: str | None


def _encode(moment: datetime | None, row_id: int) -> str:
    raw = f"{moment.isoformat() if moment else ''}|{row_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime | None, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, row_id = raw.partition("|")
        number = int(row_id)
        at = datetime.fromisoformat(moment) if moment else None
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor("not a cursor from this API") from None
    if not 0 < number <= MAX_ID or (at is not None and at.tzinfo is None):
        raise BadCursor("not a cursor from this API")
    return at, number


def _page[M: (Contact, Conversation, Message)](
    rows: QuerySet[M], limit: int, key: str | None, cursor: str | None
) -> Page[M]:
    """Newest first by (``key``, id), or by id alone when ``key`` is None."""
    if cursor:
        at, last_id = _decode(cursor)
        if key is None:
            rows = rows.filter(pk__lt=last_id)
        else:
            if at is None:
                raise BadCursor("not a cursor from this API")
            # (key, id) < (at, last id), spelt so both engines use the key's range in the index:
            # the leading "key <= at" bounds the index scan, the OR only breaks ties.
            rows = rows.filter(Q(**{f"{key}__lte": at}) & (Q(**{f"{key}__lt": at}) | Q(pk__lt=last_id)))
    order = ["-pk"] if key is None else [f"-{key}", "-pk"]
    found = list(rows.order_by(*order)[: limit + 1])
    if len(found) <= limit:
        return Page(found, None)
    last = found[limit - 1]
    return Page(found[:limit], _encode(getattr(last, key) if key else None, last.pk))


def channels(workspace_id: int) -> QuerySet[Channel]:
    return Channel.objects.for_workspace(workspace_id).order_by("name", "pk")


def channel(workspace_id: int, channel_id: int) -> Channel | None:
    if not 0 < channel_id <= MAX_ID:
        return None
    found: Channel | None = channels(workspace_id).filter(pk=channel_id).first()
    return found


def contacts(workspace_id: int, *, limit: int, cursor: str | None) -> Page[Contact]:
    return _page(Contact.objects.for_workspace(workspace_id), limit, None, cursor)


def contact(workspace_id: int, contact_id: int) -> Contact | None:
    if not 0 < contact_id <= MAX_ID:
        return None
    found: Contact | None = Contact.objects.for_workspace(workspace_id).filter(pk=contact_id).first()
    return found


def contacts_by_number(workspace_id: int, number: str) -> list[Contact]:
    """Contacts whose WhatsApp id is this number in any accepted form; a non-number finds nobody."""
    try:
        return find_by_blind_index(Contact, workspace_id, "wa_id_index", number)
    except NormalisationError:
        return []


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    status: str | None = None
    channel_id: int | None = None
    assignee_user_id: int | None = None
    unassigned: bool = False
    label_id: int | None = None
    contact_ids: tuple[int, ...] | None = None  # a search's matches: only these contacts' threads


def conversations(
    workspace_id: int, where: ConversationFilter, *, limit: int, cursor: str | None
) -> Page[Conversation]:
    rows = Conversation.objects.for_workspace(workspace_id)
    if where.status:
        rows = rows.filter(status=where.status)
    if where.channel_id is not None:
        rows = rows.filter(channel_id=where.channel_id)
    if where.unassigned:
        rows = rows.filter(assignee__isnull=True)
    elif where.assignee_user_id is not None:
        rows = rows.filter(assignee_id=where.assignee_user_id)
    if where.label_id is not None:
        labelled = ConversationLabel.objects.for_workspace(workspace_id).filter(label_id=where.label_id)
        rows = rows.filter(pk__in=labelled.values("conversation_id"))
    if where.contact_ids is not None:
        # A contact has one conversation per channel: their ids first, through the contact index. Asked
        # in one query, SQLite (which keeps no statistics) walks the whole workspace in list order instead.
        found = Conversation.objects.for_workspace(workspace_id).filter(contact_id__in=where.contact_ids)
        rows = rows.filter(pk__in=list(found.values_list("pk", flat=True)))
    # A list row shows its contact, number and assignee: joined here, not fetched once per row.
    rows = rows.select_related("contact", "channel", "assignee")
    return _page(rows, limit, "last_message_at", cursor)


def conversation(workspace_id: int, conversation_id: int) -> Conversation | None:
    if not 0 < conversation_id <= MAX_ID:
        return None
    found: Conversation | None = (
        Conversation.objects.for_workspace(workspace_id).filter(pk=conversation_id).first()
    )
    return found


def messages(workspace_id: int, conversation_id: int, *, limit: int, cursor: str | None) -> Page[Message]:
    rows = Message.objects.for_workspace(workspace_id).filter(conversation_id=conversation_id)
    return _page(rows, limit, "created_at", cursor)


def member(workspace_id: int, member_id: int) -> Membership | None:
    if not 0 < member_id <= MAX_ID:
        return None
    found: Membership | None = (
        Membership.objects.for_workspace(workspace_id)
        .select_related("user")
        .filter(pk=member_id, user__is_active=True)
        .first()
    )
    return found


def members_by_user(workspace_id: int, user_ids: set[int]) -> dict[int, int]:
    """Membership id by user id, for showing assignees as the API's member ids."""
    rows = Membership.objects.for_workspace(workspace_id).filter(user_id__in=user_ids)
    return dict(rows.values_list("user_id", "pk"))


def can_be_assigned(membership: Membership) -> bool:
    return role_allows(membership.role, Perm.REPLY_INBOX)
