"""REST operations that send: text, media (multipart upload), template, interactive, reaction; mark
read; retry failed. Transport only: parse, check the token's scope, call the outbound actions.

Every object is found through the token's workspace; an id from another workspace is a 404.
``Idempotency-Key`` (optional, up to 200 characters) makes a send safe to repeat: the same key with
the same request returns the first result (``replayed: true``); with another request it is a 409.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import File, Form, Header, Router, Schema
from ninja.errors import HttpError
from ninja.files import UploadedFile
from ninja.responses import Status
from pydantic import Field

from chatrk.accounts.scopes import Scope
from chatrk.api.auth import require_scope
from chatrk.api.schemas import Id, IdIn
from chatrk.audit.actions import Actor, Origin
from chatrk.inbox.models import Conversation, Message
from chatrk.outbound import actions
from chatrk.outbound.errors import IdempotencyConflict, InvalidContent, NotRetryable, SendRefused
from chatrk.whatsapp.enums import MediaKind
from chatrk.whatsapp.errors import GraphError
from chatrk.whatsapp.media import media_limit
from chatrk.whatsapp.messages import (
    BodyParameters,
    ButtonParameters,
    CtaUrlMessage,
    HeaderParameters,
    InvalidRequest,
    ListMessage,
    ListRow,
    ListSection,
    OutboundMessage,
    PayloadParam,
    ReactionMessage,
    ReplyButton,
    ReplyButtonsMessage,
    TemplateComponentParameters,
    TemplateMessage,
    TextMessage,
    TextParam,
)

router = Router(tags=["messages"])

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


class SendProblem(Schema):
    detail: str
    code: str = ""
    reasons: list[str] = []


class Queued(Schema):
    message_id: Id
    conversation_id: Id
    status: str  # the message's status: queued, or held (waits for a compliance officer); later on a replay
    outbox_id: Id
    outbox_state: str
    attempt: int
    replayed: bool = False
    held: bool = False  # the content policy held it: sent only once a compliance officer releases it
    hold_reason: str = ""  # why, in plain language (set on the answer that held it)


class TextIn(Schema):
    body: str = Field(min_length=1, max_length=4096)
    preview_url: bool = False
    reply_to_message_id: IdIn | None = None


class ParamIn(Schema):
    text: str = Field(min_length=1, max_length=1024)
    name: str | None = Field(default=None, max_length=64)


class QuickReplyIn(Schema):
    index: int = Field(ge=0, le=9)
    payload: str = Field(min_length=1, max_length=256)


class TemplateIn(Schema):
    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=32)
    header_parameters: list[ParamIn] = Field(default=[], max_length=1)
    body_parameters: list[ParamIn] = Field(default=[], max_length=100)
    quick_replies: list[QuickReplyIn] = Field(default=[], max_length=10)


class ButtonIn(Schema):
    id: str = Field(min_length=1, max_length=256)
    title: str = Field(min_length=1, max_length=20)


class RowIn(Schema):
    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=24)
    description: str | None = Field(default=None, max_length=72)


class SectionIn(Schema):
    title: str | None = Field(default=None, max_length=24)
    rows: list[RowIn] = Field(min_length=1, max_length=10)


class InteractiveIn(Schema):
    type: Literal["button", "list", "cta_url"]
    body: str = Field(min_length=1, max_length=4096)
    header: str | None = Field(default=None, max_length=60)
    footer: str | None = Field(default=None, max_length=60)
    buttons: list[ButtonIn] = Field(default=[], max_length=3)  # type=button
    button: str | None = Field(default=None, max_length=20)  # type=list: the menu button's label
    sections: list[SectionIn] = Field(default=[], max_length=10)  # type=list
    display_text: str | None = Field(default=None, max_length=20)  # type=cta_url
    url: str | None = Field(default=None, max_length=2000)  # type=cta_url
    reply_to_message_id: IdIn | None = None


class ReactionIn(Schema):
    message_id: IdIn  # the message (ours, in this conversation) to react to
    emoji: str = Field(max_length=16)  # "" removes the reaction


_ERRORS = {401: SendProblem, 403: SendProblem, 404: SendProblem, 409: SendProblem, 422: SendProblem}
_SEND = {202: Queued, **_ERRORS}


def _sender(request: HttpRequest) -> actions.SendBy:
    token = require_scope(request, Scope.MESSAGES_WRITE)
    return actions.SendBy(
        workspace_id=token.workspace_id,
        actor=Actor.token(token.pk),
        role=token.creator_role,  # type: ignore[attr-defined]
        user_id=token.created_by_id,
    )


def _origin(request: HttpRequest) -> Origin:
    return Origin(
        ip=request.META.get("REMOTE_ADDR", ""), user_agent=request.headers.get("User-Agent", "")[:300]
    )


def _conversation(by: actions.SendBy, conversation_id: int) -> Conversation:
    found = (
        Conversation.objects.for_workspace(by.workspace_id)
        .select_related("channel", "contact")
        .filter(pk=conversation_id)
        .first()
    )
    if found is None:
        raise HttpError(404, "No such conversation.")
    assert isinstance(found, Conversation)
    return found


def _message(by: actions.SendBy, message_id: int) -> Message:
    found = Message.objects.for_workspace(by.workspace_id).filter(pk=message_id).first()
    if found is None:
        raise HttpError(404, "No such message.")
    assert isinstance(found, Message)
    return found


def _reply_wamid(by: actions.SendBy, conversation: Conversation, message_id: int | None) -> str:
    if message_id is None:
        return ""
    target = _message(by, message_id)
    if target.conversation_id != conversation.pk or not target.wamid:
        raise HttpError(422, "The message replied to is not in this conversation or was never delivered.")
    return target.wamid


def _queued(result: actions.Enqueued) -> Queued:
    message, item = result.message, result.item
    return Queued(
        message_id=message.pk,
        conversation_id=message.conversation_id,
        status=message.status,
        outbox_id=item.pk,
        outbox_state=item.state,
        attempt=item.attempt,
        replayed=result.replayed,
        held=result.held,
        hold_reason=result.hold_reason,
    )


def _problem(status: int, detail: str, code: str, reasons: list[str] | None = None) -> Status[Any]:
    return Status(status, SendProblem(detail=detail, code=code, reasons=reasons or []))


def _enqueue(
    request: HttpRequest,
    by: actions.SendBy,
    conversation: Conversation,
    content: actions.Outgoing,
    key: str | None,
    body_digest: str,
    reply_to: str = "",
) -> Status[Any]:
    print_ = actions.fingerprint(request.method or "", request.path, body_digest) if key else ""
    try:
        result = actions.do_enqueue(
            by,
            conversation,
            content,
            reply_to_wamid=reply_to,
            idempotency_key=key or "",
            request_fingerprint=print_,
            origin=_origin(request),
        )
    except SendRefused as refused:
        reasons = [r.reason for r in refused.decision.refusals]
        return _problem(422, refused.decision.reason, "send_refused", reasons)
    except IdempotencyConflict as conflict:
        return _problem(409, str(conflict), conflict.code)
    except InvalidContent as invalid:
        return _problem(422, str(invalid), invalid.code)
    return Status(202, _queued(result))


def _build[T](make: type[T], *args: object, **kwargs: object) -> T:
    try:
        return make(*args, **kwargs)
    except InvalidRequest as error:
        raise HttpError(422, f"Not a valid message: {error}") from None


@router.post("/conversations/{conversation_id}/messages/text", response=_SEND)
def send_text(
    request: HttpRequest, conversation_id: IdIn, payload: TextIn, idempotency_key: IdempotencyKey = None
) -> Status[Any]:
    """Send free-form text (inside the 24-hour customer-service window only)."""
    by = _sender(request)
    conversation = _conversation(by, conversation_id)
    reply_to = _reply_wamid(by, conversation, payload.reply_to_message_id)
    message = _build(TextMessage, payload.body, preview_url=payload.preview_url)
    return _enqueue(request, by, conversation, message, idempotency_key, payload.model_dump_json(), reply_to)


@router.post("/conversations/{conversation_id}/messages/template", response=_SEND)
def send_template(
    request: HttpRequest, conversation_id: IdIn, payload: TemplateIn, idempotency_key: IdempotencyKey = None
) -> Status[Any]:
    """Send a template (allowed outside the window). Parameters fill its header, body and quick replies."""
    by = _sender(request)
    conversation = _conversation(by, conversation_id)
    components: list[TemplateComponentParameters] = []
    if payload.header_parameters:
        header = tuple(_build(TextParam, p.text, name=p.name) for p in payload.header_parameters)
        components.append(_build(HeaderParameters, header))
    if payload.body_parameters:
        body = tuple(_build(TextParam, p.text, name=p.name) for p in payload.body_parameters)
        components.append(_build(BodyParameters, body))
    for reply in payload.quick_replies:
        components.append(
            _build(ButtonParameters, "quick_reply", reply.index, (_build(PayloadParam, reply.payload),))
        )
    message = _build(TemplateMessage, payload.name, payload.language, tuple(components))
    return _enqueue(request, by, conversation, message, idempotency_key, payload.model_dump_json())


@router.post("/conversations/{conversation_id}/messages/interactive", response=_SEND)
def send_interactive(
    request: HttpRequest,
    conversation_id: IdIn,
    payload: InteractiveIn,
    idempotency_key: IdempotencyKey = None,
) -> Status[Any]:
    """Send reply buttons, a list or a call-to-action URL (inside the window)."""
    by = _sender(request)
    conversation = _conversation(by, conversation_id)
    reply_to = _reply_wamid(by, conversation, payload.reply_to_message_id)
    message: OutboundMessage
    if payload.type == "button":
        buttons = tuple(_build(ReplyButton, b.id, b.title) for b in payload.buttons)
        message = _build(
            ReplyButtonsMessage, payload.body, buttons, header=payload.header, footer=payload.footer
        )
    elif payload.type == "list":
        sections = tuple(
            _build(ListSection, s.title, tuple(_build(ListRow, r.id, r.title, r.description) for r in s.rows))
            for s in payload.sections
        )
        message = _build(
            ListMessage,
            payload.body,
            payload.button or "",
            sections,
            header=payload.header,
            footer=payload.footer,
        )
    else:
        message = _build(
            CtaUrlMessage,
            payload.body,
            payload.display_text or "",
            payload.url or "",
            header=payload.header,
            footer=payload.footer,
        )
    return _enqueue(request, by, conversation, message, idempotency_key, payload.model_dump_json(), reply_to)


@router.post("/conversations/{conversation_id}/messages/reaction", response=_SEND)
def send_reaction(
    request: HttpRequest, conversation_id: IdIn, payload: ReactionIn, idempotency_key: IdempotencyKey = None
) -> Status[Any]:
    """React to a message in the conversation with one emoji ("" removes the reaction)."""
    by = _sender(request)
    conversation = _conversation(by, conversation_id)
    target = _message(by, payload.message_id)
    if target.conversation_id != conversation.pk or not target.wamid:
        raise HttpError(422, "The message reacted to is not in this conversation or has no WhatsApp id.")
    message = _build(ReactionMessage, target.wamid, payload.emoji)
    return _enqueue(request, by, conversation, message, idempotency_key, payload.model_dump_json())


@router.post("/conversations/{conversation_id}/messages/media", response=_SEND)
def send_media(
    request: HttpRequest,
    conversation_id: IdIn,
    file: File[UploadedFile],
    kind: Form[Literal["image", "video", "audio", "document", "sticker"]],
    caption: Form[str | None] = None,
    filename: Form[str | None] = None,
    voice: Form[bool] = False,
    idempotency_key: IdempotencyKey = None,
) -> Status[Any]:
    """Upload a file (multipart) and send it. It is stored encrypted and sent to WhatsApp by media id,
    never as a public link."""
    by = _sender(request)
    conversation = _conversation(by, conversation_id)
    mime_type = (file.content_type or "").split(";")[0].strip().lower()
    limit = media_limit(mime_type) or MAX_UPLOAD_BYTES
    if (file.size or 0) > limit:
        return _problem(422, "The file is larger than WhatsApp allows for this type.", "invalid_content")
    content = file.read(limit + 1)
    if len(content) > limit:
        return _problem(422, "The file is larger than WhatsApp allows for this type.", "invalid_content")
    media = actions.OutgoingMedia(
        kind=MediaKind(kind),
        content=content,
        mime_type=mime_type,
        filename=filename,
        caption=caption,
        voice=voice,
    )
    digest = actions.fingerprint(
        kind, caption or "", filename or "", str(voice), mime_type, hashlib.sha256(content).hexdigest()
    )
    return _enqueue(request, by, conversation, media, idempotency_key, digest)


@router.post(
    "/messages/{message_id}/retry", response={202: Queued, **_ERRORS}, summary="Retry a failed message"
)
def retry_message(request: HttpRequest, message_id: IdIn) -> Status[Any]:
    """Queue a failed message again as a new attempt; it really re-sends (a new wamid)."""
    by = _sender(request)
    message = _message(by, message_id)
    try:
        item = actions.retry_failed(by, message, origin=_origin(request))
    except NotRetryable as error:
        return _problem(409, str(error), error.code)
    except SendRefused as refused:
        return _problem(
            422, refused.decision.reason, "send_refused", [r.reason for r in refused.decision.refusals]
        )
    message.refresh_from_db()
    return Status(202, _queued(actions.Enqueued(message, item)))


@router.post("/messages/{message_id}/read", response={204: None, **_ERRORS}, summary="Mark read")
def mark_read(request: HttpRequest, message_id: IdIn) -> Status[Any]:
    """Blue ticks for a received message (and the ones before it)."""
    by = _sender(request)
    message = _message(by, message_id)
    try:
        actions.mark_read(by, message, origin=_origin(request))
    except NotRetryable as error:
        return _problem(409, str(error), error.code)
    except GraphError as error:
        return _problem(409, f"WhatsApp did not take the read receipt: {error.reason}", "graph_error")
    except InvalidRequest:
        return _problem(409, "The number's settings do not allow this request.", "invalid_request")
    return Status(204, None)
