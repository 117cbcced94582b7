"""Working conversations over the API: labels (and labels on a conversation), transcript export, and a
channel's round-robin setting. Assignment and status are in ``conversations``.

Label names are business text, not personal data. A transcript is decrypted through
``reveal_for_token`` (one audit event per chunk of messages) and recorded as
``conversation.transcript_exported``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from chatrk.accounts.actions import origin_of
from chatrk.accounts.models import ApiToken
from chatrk.accounts.scopes import Scope
from chatrk.api.auth import require_scope
from chatrk.api.schemas import DENIED, Error
from chatrk.audit.actions import Actor
from chatrk.core.roles import Perm
from chatrk.crypto.reveal import reveal_for_token
from chatrk.inbox import queries, work
from chatrk.inbox.errors import InboxError
from chatrk.inbox.models import Channel, Conversation, Label, Message
from chatrk.outbound import receipts

router = Router(tags=["labels"])


class LabelOut(Schema):
    id: str
    name: str
    created_at: datetime


class LabelIn(Schema):
    name: str  # 1 to 40 characters, unique in the workspace whatever the case


class LabelRef(Schema):
    label_id: str  # a label id from GET /labels


class SwitchIn(Schema):  # a channel's on/off setting: round-robin, read receipts
    enabled: bool


class AutoAssignOut(Schema):
    channel_id: str
    auto_assign: bool


class ReadReceiptsOut(Schema):
    channel_id: str
    send_read_receipts: bool


class TranscriptLine(Schema):
    at: datetime
    speaker: str  # "Customer", the member's name, "Note by …" or "Event"
    direction: str  # in, out, note, event
    kind: str
    text: str  # "[erased]" once the contact was erased


class TranscriptOut(Schema):
    conversation_id: str
    number: int
    channel_id: str
    exported_at: datetime
    messages: list[TranscriptLine]


def label_out(label: Label) -> LabelOut:
    return LabelOut(id=str(label.pk), name=label.name, created_at=label.created_at)


def _label(workspace_id: int, label_id: int | str) -> Label | None:
    text = str(label_id)
    if not text.isdigit() or not 0 < int(text) <= queries.MAX_ID:
        return None
    found: Label | None = Label.objects.for_workspace(workspace_id).filter(pk=int(text)).first()
    return found


def _label_or_404(workspace_id: int, label_id: int) -> Label:
    found = _label(workspace_id, label_id)
    if found is None:
        raise HttpError(404, "No such label.")
    return found


def _conversation(workspace_id: int, conversation_id: int) -> Conversation:
    found = queries.conversation(workspace_id, conversation_id)
    if found is None:
        raise HttpError(404, "No such conversation.")
    return found


# --- labels -----------------------------------------------------------------------------------------------


@router.get("/labels", response={200: list[LabelOut], **DENIED})
def list_labels(request: HttpRequest) -> list[LabelOut]:
    token = require_scope(request, Scope.CONVERSATIONS_READ)
    return [label_out(label) for label in Label.objects.for_workspace(token.workspace_id).order_by("name")]


@router.post("/labels", response={201: LabelOut, 400: Error, **DENIED})
def create_label(request: HttpRequest, body: LabelIn) -> Status[LabelOut]:
    token = require_scope(request, Scope.LABELS_WRITE)
    try:
        label = work.create_label(
            token.workspace_id, body.name, actor=Actor.token(token.pk), origin=origin_of(request)
        )
    except InboxError as error:
        raise HttpError(400, error.message) from None
    return Status(201, label_out(label))


@router.patch("/labels/{label_id}", response={200: LabelOut, 400: Error, 404: Error, **DENIED})
def rename_label(request: HttpRequest, label_id: int, body: LabelIn) -> LabelOut:
    token = require_scope(request, Scope.LABELS_WRITE)
    label = _label_or_404(token.workspace_id, label_id)
    try:
        work.rename_label(label, body.name, actor=Actor.token(token.pk), origin=origin_of(request))
    except InboxError as error:
        raise HttpError(400, error.message) from None
    return label_out(label)


@router.delete("/labels/{label_id}", response={204: None, 404: Error, **DENIED})
def delete_label(request: HttpRequest, label_id: int) -> Status[None]:
    """Takes the label off every conversation too; the conversations stay."""
    token = require_scope(request, Scope.LABELS_WRITE)
    work.delete_label(
        _label_or_404(token.workspace_id, label_id), actor=Actor.token(token.pk), origin=origin_of(request)
    )
    return Status(204, None)


@router.get("/conversations/{conversation_id}/labels", response={200: list[LabelOut], 404: Error, **DENIED})
def conversation_labels(request: HttpRequest, conversation_id: int) -> list[LabelOut]:
    token = require_scope(request, Scope.CONVERSATIONS_READ)
    return [label_out(label) for label in work.labels_of(_conversation(token.workspace_id, conversation_id))]


@router.post(
    "/conversations/{conversation_id}/labels",
    response={200: list[LabelOut], 400: Error, 404: Error, **DENIED},
)
def add_label(request: HttpRequest, conversation_id: int, body: LabelRef) -> list[LabelOut]:
    """Puts a label on the conversation (again is fine: nothing changes); answers its labels."""
    token = require_scope(request, Scope.CONVERSATIONS_WRITE)
    conversation = _conversation(token.workspace_id, conversation_id)
    label = _label(token.workspace_id, body.label_id)
    if label is None:
        raise HttpError(400, "No such label.")
    work.add_label(conversation, label, actor=Actor.token(token.pk), origin=origin_of(request))
    return [label_out(found) for found in work.labels_of(conversation)]


@router.delete(
    "/conversations/{conversation_id}/labels/{label_id}",
    response={200: list[LabelOut], 404: Error, **DENIED},
)
def remove_label(request: HttpRequest, conversation_id: int, label_id: int) -> list[LabelOut]:
    token = require_scope(request, Scope.CONVERSATIONS_WRITE)
    conversation = _conversation(token.workspace_id, conversation_id)
    label = _label_or_404(token.workspace_id, label_id)
    work.remove_label(conversation, label, actor=Actor.token(token.pk), origin=origin_of(request))
    return [label_out(found) for found in work.labels_of(conversation)]


# --- transcripts ------------------------------------------------------------------------------------------


@router.get(
    "/conversations/{conversation_id}/transcript",
    response={200: TranscriptOut, 404: Error, **DENIED},
    tags=["conversations"],
)
def export_transcript(request: HttpRequest, conversation_id: int, response: HttpResponse) -> TranscriptOut:
    """The whole thread, oldest first, decrypted (audited). Answered with ``Cache-Control: no-store``."""
    token = require_scope(request, Scope.TRANSCRIPTS_EXPORT)
    conversation = _conversation(token.workspace_id, conversation_id)
    origin = origin_of(request)

    def read(rows: list[Message]) -> list[dict[str, Any]]:
        return reveal_for_token(
            token, rows, ["body"], perm=Perm.EXPORT_TRANSCRIPTS, origin=origin, purpose="transcript"
        )

    found = work.transcript(
        conversation, read=read, actor=Actor.token(token.pk), export_format="json", origin=origin
    )
    response["Cache-Control"] = "no-store"
    return TranscriptOut.model_validate(work.transcript_json(found))


# --- round-robin ------------------------------------------------------------------------------------------


def _channel_to_switch(request: HttpRequest, channel_id: int) -> tuple[ApiToken, Channel]:
    """The token (with the channels:write scope) and its workspace's channel, or 404."""
    token = require_scope(request, Scope.CHANNELS_WRITE)
    channel = queries.channel(token.workspace_id, channel_id)
    if channel is None:
        raise HttpError(404, "No such channel.")
    return token, channel


@router.put(
    "/channels/{channel_id}/auto-assign",
    response={200: AutoAssignOut, 404: Error, **DENIED},
    tags=["channels"],
)
def set_auto_assign(request: HttpRequest, channel_id: int, body: SwitchIn) -> AutoAssignOut:
    """Round-robin: new conversations on this number go in turn to members who may reply."""
    token, channel = _channel_to_switch(request, channel_id)
    updated = work.set_auto_assign(
        channel, body.enabled, actor=Actor.token(token.pk), origin=origin_of(request)
    )
    return AutoAssignOut(channel_id=str(updated.pk), auto_assign=updated.auto_assign)


@router.put(
    "/channels/{channel_id}/read-receipts",
    response={200: ReadReceiptsOut, 404: Error, **DENIED},
    tags=["channels"],
)
def set_read_receipts(request: HttpRequest, channel_id: int, body: SwitchIn) -> ReadReceiptsOut:
    """Blue ticks (on by default): when a member opens a conversation, WhatsApp hears it was read."""
    token, channel = _channel_to_switch(request, channel_id)
    updated = receipts.set_send_read_receipts(
        channel, body.enabled, actor=Actor.token(token.pk), origin=origin_of(request)
    )
    return ReadReceiptsOut(channel_id=str(updated.pk), send_read_receipts=updated.send_read_receipts)
