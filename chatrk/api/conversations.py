"""Conversations: list with filters (keyset pages), get, assign, change status; and their messages.

Message bodies are decrypted through ``reveal_for_token``: one audit event per page.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError

from chatrk.accounts.actions import origin_of
from chatrk.accounts.scopes import Scope
from chatrk.api.auth import require_scope
from chatrk.api.schemas import DEFAULT_PAGE, DENIED, Error, Id, IdIn, page_size
from chatrk.audit.actions import Actor
from chatrk.crypto.reveal import ERASED, reveal_for_token
from chatrk.inbox import actions, queries
from chatrk.inbox.errors import InboxError
from chatrk.inbox.models import Conversation

router = Router(tags=["conversations"])


class Status(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class ConversationOut(Schema):
    id: str
    number: int
    channel_id: str
    contact_id: str
    status: Status
    assignee_member_id: Id | None
    snoozed_until: datetime | None
    last_inbound_at: datetime | None
    window_closes_at: datetime | None  # free-form replies are allowed until then
    last_message_at: datetime
    unread: int
    created_at: datetime


class ConversationPage(Schema):
    items: list[ConversationOut]
    next_cursor: str | None


class Assign(Schema):
    member_id: IdIn | None  # a member id from /members; null leaves the conversation unassigned


class ChangeStatus(Schema):
    status: Status
    snoozed_until: datetime | None = None  # required for "snoozed", with a time zone; else absent


class MessageOut(Schema):
    id: str
    conversation_id: str
    direction: str  # "in" or "out"
    kind: str  # Meta's message type: text, image, template, reaction, …
    body: str | None  # the text a person reads (text, caption, button title); None when erased or absent
    erased: bool
    wamid: str | None
    reply_to_wamid: str
    status: str
    error_code: int | None
    error_title: str
    sent_at: datetime | None
    status_at: datetime | None
    created_at: datetime


class MessagePage(Schema):
    items: list[MessageOut]
    next_cursor: str | None


def conversations_out(workspace_id: int, rows: list[Conversation]) -> list[ConversationOut]:
    assignees = {row.assignee_id for row in rows if row.assignee_id is not None}
    member_of = queries.members_by_user(workspace_id, assignees) if assignees else {}
    return [
        ConversationOut(
            id=str(row.pk),
            number=row.number,
            channel_id=str(row.channel_id),
            contact_id=str(row.contact_id),
            status=Status(row.status),
            assignee_member_id=member_of.get(row.assignee_id) if row.assignee_id else None,
            snoozed_until=row.snoozed_until,
            last_inbound_at=row.last_inbound_at,
            window_closes_at=actions.window_closes_at(row),
            last_message_at=row.last_message_at,
            unread=row.unread,
            created_at=row.created_at,
        )
        for row in rows
    ]


def _conversation(workspace_id: int, conversation_id: int) -> Conversation:
    found = queries.conversation(workspace_id, conversation_id)
    if found is None:
        raise HttpError(404, "No such conversation.")
    return found


@router.get("/conversations", response={200: ConversationPage, 400: Error, **DENIED})
def list_conversations(
    request: HttpRequest,
    status: Status | None = None,
    channel_id: IdIn | None = None,
    assignee_member_id: IdIn | None = None,
    unassigned: bool = False,
    label_id: int | None = None,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
) -> ConversationPage:
    """Most recent activity first. Filters combine; ``unassigned=true`` wins over an assignee. ``label_id``:
    conversations carrying that label (an unknown label: an empty page)."""
    token = require_scope(request, Scope.CONVERSATIONS_READ)
    workspace_id = token.workspace_id
    assignee_user: int | None = None
    if assignee_member_id is not None and not unassigned:
        member = queries.member(workspace_id, assignee_member_id)
        assignee_user = member.user_id if member else -1  # nobody: an empty page, not an error
    if channel_id is not None and queries.channel(workspace_id, channel_id) is None:
        channel_id = -1
    where = queries.ConversationFilter(
        status=status.value if status else None,
        channel_id=channel_id,
        assignee_user_id=assignee_user,
        unassigned=unassigned,
        label_id=label_id if label_id is None or 0 < label_id <= queries.MAX_ID else -1,
    )
    try:
        page = queries.conversations(workspace_id, where, limit=page_size(limit), cursor=cursor)
    except queries.BadCursor as error:
        raise HttpError(400, str(error)) from None
    return ConversationPage(items=conversations_out(workspace_id, page.rows), next_cursor=page.next_cursor)


@router.get("/conversations/{conversation_id}", response={200: ConversationOut, 404: Error, **DENIED})
def get_conversation(request: HttpRequest, conversation_id: IdIn) -> ConversationOut:
    token = require_scope(request, Scope.CONVERSATIONS_READ)
    return conversations_out(token.workspace_id, [_conversation(token.workspace_id, conversation_id)])[0]


@router.post(
    "/conversations/{conversation_id}/assign",
    response={200: ConversationOut, 400: Error, 404: Error, **DENIED},
)
def assign_conversation(request: HttpRequest, conversation_id: IdIn, body: Assign) -> ConversationOut:
    token = require_scope(request, Scope.CONVERSATIONS_WRITE)
    conversation = _conversation(token.workspace_id, conversation_id)
    member = None
    if body.member_id is not None:
        member = queries.member(token.workspace_id, body.member_id)
        if member is None:
            raise HttpError(400, "No such member.")
    try:
        updated = actions.assign_conversation(
            conversation, member, actor=Actor.token(token.pk), origin=origin_of(request)
        )
    except InboxError as error:
        raise HttpError(400, error.message) from None
    return conversations_out(token.workspace_id, [updated])[0]


@router.post(
    "/conversations/{conversation_id}/status",
    response={200: ConversationOut, 400: Error, 404: Error, **DENIED},
)
def change_status(request: HttpRequest, conversation_id: IdIn, body: ChangeStatus) -> ConversationOut:
    """Open, pending, snoozed (until ``snoozed_until``, in the future) or resolved."""
    token = require_scope(request, Scope.CONVERSATIONS_WRITE)
    conversation = _conversation(token.workspace_id, conversation_id)
    try:
        updated = actions.set_conversation_status(
            conversation,
            body.status.value,
            snoozed_until=body.snoozed_until,
            actor=Actor.token(token.pk),
            origin=origin_of(request),
        )
    except InboxError as error:
        raise HttpError(400, error.message) from None
    return conversations_out(token.workspace_id, [updated])[0]


@router.get(
    "/conversations/{conversation_id}/messages",
    response={200: MessagePage, 400: Error, 404: Error, **DENIED},
    tags=["messages"],
)
def list_messages(
    request: HttpRequest, conversation_id: IdIn, limit: int = DEFAULT_PAGE, cursor: str | None = None
) -> MessagePage:
    """Newest first."""
    token = require_scope(request, Scope.MESSAGES_READ)
    conversation = _conversation(token.workspace_id, conversation_id)
    try:
        page = queries.messages(token.workspace_id, conversation.pk, limit=page_size(limit), cursor=cursor)
    except queries.BadCursor as error:
        raise HttpError(400, str(error)) from None
    rows = page.rows
    revealed = reveal_for_token(token, rows, ["body"], origin=origin_of(request)) if rows else []
    items = [
        MessageOut(
            id=str(row.pk),
            conversation_id=str(row.conversation_id),
            direction=row.direction,
            kind=row.kind,
            body=None if plain["body"] is ERASED or plain["body"] is None else str(plain["body"]),
            erased=plain["body"] is ERASED,
            wamid=row.wamid,
            reply_to_wamid=row.reply_to_wamid,
            status=row.status,
            error_code=row.error_code,
            error_title=row.error_title,
            sent_at=row.sent_at,
            status_at=row.status_at,
            created_at=row.created_at,
        )
        for row, plain in zip(rows, revealed, strict=True)
    ]
    return MessagePage(items=items, next_cursor=page.next_cursor)
