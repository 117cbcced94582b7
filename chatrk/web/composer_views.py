"""The composer under a thread: free text inside the 24-hour window, templates outside it, attachments,
canned responses and internal notes.

The thread page (``inbox_views``) renders
``web/inbox/_composer.html`` with the context ``composer_context`` returns. The composer's own routes
answer htmx with that partial (it swaps itself, ``#composer``), and a plain request with the partial
inside the page layout, so it works without JavaScript too.

Every rendered form carries a fresh idempotency key: submitting it twice (a double click, a reload)
queues the message, or adds the note, once.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_POST

from chatrk.accounts.actions import origin_of
from chatrk.audit.actions import Actor
from chatrk.core.clock import now
from chatrk.core.roles import Perm, role_allows
from chatrk.inbox import canned, notes
from chatrk.inbox.actions import window_closes_at, window_is_open
from chatrk.inbox.errors import InboxError
from chatrk.inbox.models import Conversation
from chatrk.msgtemplates.errors import ParameterError
from chatrk.msgtemplates.models import Template
from chatrk.msgtemplates.sending import build_send
from chatrk.msgtemplates.sending import render as render_template
from chatrk.outbound import actions as outbound
from chatrk.outbound.errors import IdempotencyConflict, InvalidContent, SendRefused
from chatrk.outbound.gates import Decision
from chatrk.web import canned_views
from chatrk.web.access import membership, workspace_page
from chatrk.web.composer_forms import (
    TemplateFields,
    attachment_problem,
    media_kind_of,
    template_fields,
    template_values,
)
from chatrk.whatsapp.enums import MediaKind
from chatrk.whatsapp.media import media_limit
from chatrk.whatsapp.messages import InvalidRequest, MediaParam, OutboundMessage, TextMessage

MODES = ("reply", "template", "note")
KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
SHORTCUT_ONLY = re.compile(r"/([a-z0-9][a-z0-9_-]{0,31})")

HEADER_TYPES = {
    MediaKind.IMAGE: "choose a JPEG or PNG picture",
    MediaKind.VIDEO: "choose an MP4 or 3GPP video",
    MediaKind.DOCUMENT: "choose a PDF, text or Office document",
}
GATE_NAMES = {
    "permission": "Permission",
    "training": "Training",
    "consent": "Consent",
    "channel": "WhatsApp number",
    "window": "24-hour window",
    "content_policy": "Content policy",
}


# --- the composer's state --------------------------------------------------------------------------


def _conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    found = (
        Conversation.objects.for_workspace(membership(request).workspace_id)
        .select_related("channel", "contact")
        .filter(pk=conversation_id)
        .first()
    )
    if found is None:
        raise Http404("No such conversation")
    assert isinstance(found, Conversation)
    return found


def _sendable(conversation: Conversation) -> Any:
    """Templates this conversation's number may send now: approved in Chatrk and by Meta."""
    return Template.objects.for_workspace(conversation.workspace_id).filter(
        waba_id=conversation.channel.waba_id,
        status=Template.Status.APPROVED,
        meta_status=Template.MetaStatus.APPROVED,
    )


def sendable_templates(conversation: Conversation) -> list[Template]:
    return list(_sendable(conversation).order_by("name", "language"))


def _chosen_template(conversation: Conversation, raw: str | None) -> Template | None:
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None  # not one of our ids (which fit in 63 bits)
    found = _sendable(conversation).filter(pk=int(raw)).first()
    return found if isinstance(found, Template) else None


def _explain(decision: Decision) -> dict[str, Any]:
    """A refusal in words: one line per gate that said no (a hold is not a refusal: ``_sent_notice``)."""
    reasons = [
        {"gate": GATE_NAMES.get(name, name.replace("_", " ").capitalize()), "reason": verdict.reason}
        for name, verdict in decision.results
        if not verdict.allowed
    ]
    return {"reasons": reasons}


def composer_context(request: HttpRequest, conversation: Conversation, **state: Any) -> dict[str, Any]:
    """What ``web/inbox/_composer.html`` needs. ``state`` carries a submission's outcome: ``mode``,
    ``text``, ``notice``, ``error``, ``refusal``, ``template``, ``values``, ``field_errors``."""
    me = membership(request)
    closes = window_closes_at(conversation)
    is_open = window_is_open(conversation)
    mode = state.get("mode") or request.GET.get("mode") or ("reply" if is_open else "template")
    if mode not in MODES or (mode == "reply" and not is_open):
        mode = "reply" if is_open else "template"
    template = state.get("template")
    if template is None and mode == "template":
        template = _chosen_template(conversation, request.GET.get("template"))
    templates = sendable_templates(conversation) if mode == "template" else []
    if template is None and len(templates) == 1:
        template = templates[0]
    fields = template_fields(template) if template is not None else None
    values: dict[str, str] = state.get("values") or {}
    field_errors: dict[str, str] = state.get("field_errors") or {}
    seconds_left = int((closes - now()).total_seconds()) if is_open and closes else 0
    return {
        "conversation": conversation,
        "workspace_slug": me.workspace.slug,
        "can_reply": role_allows(me.role, Perm.REPLY_INBOX),
        "mode": mode,
        "window_open": is_open,
        "window_closes_at": closes,
        "seconds_left": seconds_left,
        "time_left": time_left(seconds_left),
        "form_key": secrets.token_urlsafe(18),
        "canned_responses": list(canned.canned_responses(me.workspace_id)),
        "text": state.get("text", ""),
        "notice": state.get("notice", ""),
        "error": state.get("error", ""),
        "refusal": state.get("refusal"),
        "templates": templates,
        "template": template,
        "fields": fields,
        "values": values,
        "params": [
            {"field": f, "value": values.get(f.name, ""), "error": field_errors.get(f.name, "")}
            for f in (fields.all if fields else ())
        ],
        "preview": _preview(template, fields, values) if template is not None and fields else None,
    }


def time_left(seconds: int) -> str:
    """ "23 h 5 min", "4 min", "40 s": the same words the countdown script writes as it ticks."""
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def _preview(template: Template, fields: TemplateFields, values: dict[str, str]) -> Any:
    """What the customer would read; a blank parameter shows as its ``{{name}}`` placeholder."""
    return render_template(template, template_values(fields, values, placeholders=True))


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _answer(
    request: HttpRequest, conversation: Conversation, *, status: int = 200, **state: Any
) -> HttpResponse:
    """The partial for htmx (always 200, so htmx swaps it in); the page otherwise, with ``status``."""
    context = composer_context(request, conversation, **state)
    if _is_htmx(request):
        return render(request, "web/inbox/_composer.html", context)
    return render(request, "web/inbox/composer_page.html", context, status=status)


def _idempotency(request: HttpRequest) -> str:
    """This form's key, bound to the member so nobody else's form can replay it."""
    key = request.POST.get("key", "")
    if not KEY.fullmatch(key):
        return ""
    return f"web:{membership(request).user_id}:{key}"


def _sender(request: HttpRequest) -> outbound.SendBy:
    me = membership(request)
    return outbound.SendBy(me.workspace_id, Actor.user(me.user_id), me.role, user_id=me.user_id)


def _sent_notice(result: outbound.Enqueued, what: str) -> str:
    if result.replayed:
        return f"This {what} was already sent from this form: it was not sent again."
    if result.held:
        return f"The {what} waits for a compliance review: it goes out once a compliance officer releases it."
    return f"The {what} is on its way: its ticks show in the thread."


def _enqueue(
    request: HttpRequest, conversation: Conversation, content: outbound.Outgoing, digest: str, *, what: str,
    mode: str, **keep: Any,
) -> HttpResponse:  # fmt: skip
    """Queues through every send gate; a refusal keeps what was written and says why in words."""
    key = _idempotency(request)
    if not key:
        return _answer(request, conversation, status=400, mode=mode,
                       error="The form expired: reload the composer and try again.", **keep)  # fmt: skip
    try:
        result = outbound.do_enqueue(
            _sender(request), conversation, content, idempotency_key=key,
            request_fingerprint=outbound.fingerprint("composer", str(conversation.pk), digest),
            origin=origin_of(request),
        )  # fmt: skip
    except SendRefused as refused:
        return _answer(
            request, conversation, status=422, mode=mode, refusal=_explain(refused.decision), **keep
        )
    except IdempotencyConflict:
        return _answer(request, conversation, status=409, mode=mode, **keep,
                       error="This form was already used for another message: nothing was sent. "
                             "Check the thread, then send again.")  # fmt: skip
    except InvalidContent as invalid:
        return _answer(request, conversation, status=422, mode=mode, error=str(invalid), **keep)
    return _answer(request, conversation, mode=mode, notice=_sent_notice(result, what))


# --- routes ----------------------------------------------------------------------------------------


@workspace_page(Perm.READ_INBOX)
@require_GET
def composer(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _answer(request, _conversation(request, conversation_id))


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def send_text(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    text = request.POST.get("text", "")
    shortcut = SHORTCUT_ONLY.fullmatch(text.strip())
    if shortcut:  # "/hours" alone: insert the canned text for review, never send it unread
        found = canned.by_shortcut(conversation.workspace_id, shortcut.group(1))
        if found is not None:
            return _answer(request, conversation, mode="reply", text=found.text,
                           notice=f"Inserted /{found.shortcut}: read it over, then send.")  # fmt: skip
    if not text.strip():
        return _answer(request, conversation, status=400, mode="reply", error="Write a message first.")
    try:
        message: OutboundMessage = TextMessage(text)
    except InvalidRequest:
        return _answer(request, conversation, status=400, mode="reply", text=text,
                       error="A WhatsApp message is at most 4,096 characters.")  # fmt: skip
    return _enqueue(request, conversation, message, text, what="message", mode="reply", text=text)


@dataclass(frozen=True, slots=True)
class Upload:
    mime_type: str
    content: bytes
    filename: str


def _read_upload(request: HttpRequest, name: str) -> Upload | str:
    """The posted file if WhatsApp takes its type and size (REFERENCE §4), else why not, in words."""
    upload = request.FILES.get(name)
    if upload is None:
        return "Choose a file to send."
    mime_type = (upload.content_type or "").split(";")[0].strip().lower()
    problem = attachment_problem(mime_type, upload.size or 0)
    if problem:
        return problem
    content = upload.read((media_limit(mime_type) or 0) + 1)  # never more than the limit, whatever size said
    problem = attachment_problem(mime_type, len(content))
    if problem:
        return problem
    return Upload(mime_type, content, (upload.name or "file")[-200:])


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def send_attachment(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    caption = request.POST.get("caption", "").strip()
    upload = _read_upload(request, "file")
    if isinstance(upload, str):
        return _answer(request, conversation, status=400, mode="reply", error=upload)
    kind = media_kind_of(upload.mime_type)
    assert kind is not None  # _read_upload let only WhatsApp's types through
    mime_type, content, filename = upload.mime_type, upload.content, upload.filename
    media = outbound.OutgoingMedia(
        kind=kind, content=content, mime_type=mime_type,
        filename=filename if kind is MediaKind.DOCUMENT else None, caption=caption or None,
    )  # fmt: skip
    digest = outbound.fingerprint(kind.value, mime_type, caption, filename, content)
    return _enqueue(request, conversation, media, digest, what="file", mode="reply")


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def template_preview(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The htmx partial: the chosen template filled with what is in the form right now, escaped."""
    conversation = _conversation(request, conversation_id)
    template = _chosen_template(conversation, request.POST.get("template"))
    if template is None:
        return render(request, "web/inbox/_template_preview.html", {"preview": None})
    fields = template_fields(template)
    return render(
        request,
        "web/inbox/_template_preview.html",
        {"preview": _preview(template, fields, fields.posted(request.POST)), "fields": fields},
    )


def _header_file(request: HttpRequest, fields: TemplateFields) -> tuple[MediaParam, Upload] | str:
    """The header's file, of the kind the template names; sent by the id /media gives it."""
    if fields.header_media not in {"image", "video", "document"}:
        return f"Templates with a {fields.header_media} header cannot be sent from the composer."
    upload = _read_upload(request, "header_file")
    if isinstance(upload, str):
        return f"Header: {upload}"
    wanted = MediaKind(fields.header_media)
    if media_kind_of(upload.mime_type) is not wanted:
        return f"This template's header takes a file of another kind: {HEADER_TYPES[wanted]}."
    filename = upload.filename if wanted is MediaKind.DOCUMENT else None
    return MediaParam(wanted, media_id=outbound.PLACEHOLDER_MEDIA_ID, filename=filename), upload


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def send_template(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    template = _chosen_template(conversation, request.POST.get("template"))
    if template is None:
        return _answer(request, conversation, status=400, mode="template",
                       error="Choose a template approved by compliance and by WhatsApp.")  # fmt: skip
    fields = template_fields(template)
    values = fields.posted(request.POST)
    keep = {"template": template, "values": values}
    missing = fields.missing(values)
    if missing:
        return _answer(request, conversation, status=400, mode="template", field_errors=missing,
                       error="Fill in every parameter.", **keep)  # fmt: skip
    header = _header_file(request, fields) if fields.header_media else None
    if isinstance(header, str):
        return _answer(request, conversation, status=400, mode="template", error=header, **keep)
    try:
        built = build_send(template, template_values(fields, values, header_media=header and header[0]))
    except ParameterError as error:
        return _answer(request, conversation, status=400, mode="template", error=error.message, **keep)
    message: outbound.Outgoing = built
    if header is not None:
        file = header[1]
        message = outbound.OutgoingTemplateWithMedia(built, file.content, file.mime_type, file.filename)
    attached = header[1].content if header is not None else b""
    digest = outbound.fingerprint(
        str(template.pk), attached, *(f"{k}={v}" for k, v in sorted(values.items()))
    )
    return _enqueue(request, conversation, message, digest, what="template", mode="template", **keep)


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def add_note(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    text = request.POST.get("text", "")
    try:
        added = notes.add_note(
            membership(request), conversation, text, form_key=_idempotency(request), origin=origin_of(request)
        )
    except InboxError as error:
        return _answer(request, conversation, status=400, mode="note", text=text, error=error.message)
    notice = (
        "This note was already added from this form: it was not added again."
        if added.replayed
        else "Note added: only your team sees it, never the customer."
    )
    return _answer(request, conversation, mode="note", notice=notice)


_PREFIX = "inbox/c/<int:conversation_id>/composer/"

urlpatterns: list[URLPattern] = [
    path(_PREFIX, composer, name="composer"),
    path(f"{_PREFIX}send/", send_text, name="composer_send"),
    path(f"{_PREFIX}attach/", send_attachment, name="composer_attach"),
    path(f"{_PREFIX}template/preview/", template_preview, name="composer_preview"),
    path(f"{_PREFIX}template/send/", send_template, name="composer_template"),
    path(f"{_PREFIX}note/", add_note, name="composer_note"),
    *canned_views.urlpatterns,
]
