"""The work on a conversation: assignment (and round-robin), labels, snooze and resolve,
transcript export; the labels page; the channel's round-robin switch.

The tools are their own page (``web:conversation_tools``): the thread page loads the partial
``web/inbox/_work.html`` by htmx once the thread is shown. Every form posts normally (a redirect back)
and, through htmx, swaps the re-rendered partial in place.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_POST

from chatrk.accounts.actions import origin_of
from chatrk.audit.actions import Actor
from chatrk.core import queries as tenancy_queries
from chatrk.core.roles import Perm, role_allows
from chatrk.crypto.reveal import reveal
from chatrk.inbox import actions, queries, work
from chatrk.inbox.errors import InboxError
from chatrk.inbox.models import Conversation, Label, Message
from chatrk.web.access import membership, workspace_page

CONVERSATION = "inbox/c/<int:conversation_id>/"


# --- the tools beside a thread ---------------------------------------------------------------------


def tools_context(request: HttpRequest, conversation: Conversation, *, error: str = "") -> dict[str, Any]:
    """Everything ``_work.html`` shows, under one key so it merges safely with the other panels'."""
    me = membership(request)
    members = [m for m in tenancy_queries.members(me.workspace_id) if queries.can_be_assigned(m)]
    applied = work.labels_of(conversation)
    applied_ids = {label.pk for label in applied}
    every_label = Label.objects.for_workspace(me.workspace_id).order_by("name")
    assignee = next((m for m in members if m.user_id == conversation.assignee_id), None)
    return {
        "work": {
            "ws": me.workspace.slug,
            "conversation": conversation,
            "assignee_name": work.name_of(conversation.assignee_id) if conversation.assignee_id else "",
            "assignee_member_id": assignee.pk if assignee else None,
            "members": members,
            "mine": conversation.assignee_id == me.user_id,
            "labels": applied,
            "addable": [label for label in every_label if label.pk not in applied_ids],
            "presets": list(work.SNOOZE_PRESETS.items()),
            "can_reply": role_allows(me.role, Perm.REPLY_INBOX),
            "can_export": role_allows(me.role, Perm.EXPORT_TRANSCRIPTS),
            "can_manage_labels": role_allows(me.role, Perm.MANAGE_WORKSPACE),
            "error": error,
        }
    }


def _conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    found = queries.conversation(membership(request).workspace_id, conversation_id)
    if found is None:
        raise Http404("No such conversation")
    return found


def _tools(
    request: HttpRequest, conversation: Conversation, *, error: str = "", status: int = 200
) -> HttpResponse:
    context = tools_context(request, conversation, error=error)
    if request.headers.get("HX-Request"):
        return render(request, "web/inbox/_work.html", context, status=status)
    return render(request, "web/inbox/work_page.html", context, status=status)


def _done(request: HttpRequest, conversation: Conversation) -> HttpResponse:
    """After a change: the fresh partial for htmx, else back to the thread."""
    if request.headers.get("HX-Request"):
        return _tools(request, conversation)
    return redirect("web:conversation", membership(request).workspace.slug, conversation.pk)


def _actor(request: HttpRequest) -> Actor:
    return Actor.user(membership(request).user_id)


@workspace_page(Perm.READ_INBOX)
@require_GET
def conversation_tools(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _tools(request, _conversation(request, conversation_id))


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def assign(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """``member_id``: a member's id, "me", or empty for nobody."""
    conversation = _conversation(request, conversation_id)
    me = membership(request)
    choice = request.POST.get("member_id", "").strip()
    member = None
    if choice == "me":
        member = me
    elif choice:
        member = queries.member(me.workspace_id, int(choice)) if choice.isdigit() else None
        if member is None:
            return _tools(request, conversation, error="Choose a member from the list.", status=400)
    try:
        updated = actions.assign_conversation(
            conversation, member, actor=_actor(request), origin=origin_of(request)
        )
    except InboxError as error:
        return _tools(request, conversation, error=error.message, status=400)
    return _done(request, updated)


STATUS_CHOICES = {Conversation.Status.OPEN, Conversation.Status.PENDING, Conversation.Status.RESOLVED}


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def change_status(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Resolve, reopen or mark pending (snoozing has its own form: it needs a moment)."""
    conversation = _conversation(request, conversation_id)
    status = request.POST.get("status", "")
    if status not in STATUS_CHOICES:
        return _tools(request, conversation, error="Choose open, pending or resolved.", status=400)
    updated = actions.set_conversation_status(
        conversation, status, actor=_actor(request), origin=origin_of(request)
    )
    return _done(request, updated)


def _snooze_until(request: HttpRequest) -> datetime:
    preset = request.POST.get("preset", "")
    if preset != "custom":
        return work.snooze_moment(preset)
    raw = request.POST.get("until", "").strip()
    try:
        chosen = datetime.fromisoformat(raw)
    except ValueError:
        raise InboxError("Give a date and time to snooze until.", field="until") from None
    return chosen.replace(tzinfo=UTC) if chosen.tzinfo is None else chosen.astimezone(UTC)


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def snooze(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """``preset`` (1h, tomorrow, next-week) or ``custom`` with ``until`` (UTC, as the form says)."""
    conversation = _conversation(request, conversation_id)
    try:
        updated = actions.set_conversation_status(
            conversation,
            Conversation.Status.SNOOZED,
            snoozed_until=_snooze_until(request),
            actor=_actor(request),
            origin=origin_of(request),
        )
    except InboxError as error:
        return _tools(request, conversation, error=error.message, status=400)
    return _done(request, updated)


def _label(request: HttpRequest, label_id: int) -> Label:
    found = (
        Label.objects.for_workspace(membership(request).workspace_id).filter(pk=label_id).first()
        if 0 < label_id <= queries.MAX_ID
        else None
    )
    if found is None:
        raise Http404("No such label")
    return found


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def add_label(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    raw = request.POST.get("label_id", "")
    label = (
        Label.objects.for_workspace(conversation.workspace_id).filter(pk=int(raw)).first()
        if raw.isdigit() and 0 < int(raw) <= queries.MAX_ID
        else None
    )
    if label is None:
        return _tools(request, conversation, error="Choose a label from the list.", status=400)
    work.add_label(conversation, label, actor=_actor(request), origin=origin_of(request))
    return _done(request, conversation)


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def remove_label(request: HttpRequest, conversation_id: int, label_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    work.remove_label(
        conversation, _label(request, label_id), actor=_actor(request), origin=origin_of(request)
    )
    return _done(request, conversation)


# --- transcripts -------------------------------------------------------------------------------------


def _transcript(request: HttpRequest, conversation_id: int, export_format: str) -> work.Transcript:
    conversation = _conversation(request, conversation_id)
    me = membership(request)

    def read(rows: list[Message]) -> list[dict[str, Any]]:
        return reveal(request.user, me, rows, ["body"], perm=Perm.EXPORT_TRANSCRIPTS,  # type: ignore[arg-type]
                      origin=origin_of(request), purpose="transcript")  # fmt: skip

    return work.transcript(
        conversation, read=read, actor=_actor(request), export_format=export_format, origin=origin_of(request)
    )


def _download(content: str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@workspace_page(Perm.EXPORT_TRANSCRIPTS)
@require_GET
def transcript_text(request: HttpRequest, conversation_id: int) -> HttpResponse:
    found = _transcript(request, conversation_id, "text")
    filename = work.transcript_filename(found.conversation, "txt")
    return _download(work.transcript_text(found), "text/plain; charset=utf-8", filename)


@workspace_page(Perm.EXPORT_TRANSCRIPTS)
@require_GET
def transcript_json(request: HttpRequest, conversation_id: int) -> HttpResponse:
    found = _transcript(request, conversation_id, "json")
    content = json.dumps(work.transcript_json(found), ensure_ascii=False, indent=2)
    return _download(content, "application/json", work.transcript_filename(found.conversation, "json"))


# --- the labels page ---------------------------------------------------------------------------------


def _labels_page(
    request: HttpRequest, *, error: str = "", notice: str = "", status: int = 200
) -> HttpResponse:
    rows = Label.objects.for_workspace(membership(request).workspace_id).order_by("name")
    context = {"labels": rows, "error": error, "notice": notice}
    return render(request, "web/labels.html", context, status=status)


@workspace_page(Perm.MANAGE_WORKSPACE)
@require_GET
def labels(request: HttpRequest) -> HttpResponse:
    return _labels_page(request)


@workspace_page(Perm.MANAGE_WORKSPACE)
@require_POST
def create_label(request: HttpRequest) -> HttpResponse:
    try:
        label = work.create_label(
            membership(request).workspace_id, request.POST.get("name", ""), actor=_actor(request),
            origin=origin_of(request),
        )  # fmt: skip
    except InboxError as error:
        return _labels_page(request, error=error.message, status=400)
    return _labels_page(request, notice=f"Label “{label.name}” created.")


@workspace_page(Perm.MANAGE_WORKSPACE)
@require_POST
def rename_label(request: HttpRequest, label_id: int) -> HttpResponse:
    label = _label(request, label_id)
    try:
        work.rename_label(
            label, request.POST.get("name", ""), actor=_actor(request), origin=origin_of(request)
        )
    except InboxError as error:
        return _labels_page(request, error=error.message, status=400)
    return _labels_page(request, notice=f"Label renamed to “{label.name}”.")


@workspace_page(Perm.MANAGE_WORKSPACE)
@require_POST
def delete_label(request: HttpRequest, label_id: int) -> HttpResponse:
    label = _label(request, label_id)
    work.delete_label(label, actor=_actor(request), origin=origin_of(request))
    return _labels_page(request, notice=f"Label “{label.name}” deleted.")


# --- the channel's switches: round-robin, read receipts ---------------------------------------------


@workspace_page(Perm.MANAGE_WORKSPACE)
@require_POST
def channel_auto_assign(request: HttpRequest, channel_id: int) -> HttpResponse:
    return _switch(request, channel_id, "auto_assign")


@workspace_page(Perm.MANAGE_WORKSPACE)
@require_POST
def channel_read_receipts(request: HttpRequest, channel_id: int) -> HttpResponse:
    return _switch(request, channel_id, "send_read_receipts")


def _switch(request: HttpRequest, channel_id: int, switch: work.ChannelSwitch) -> HttpResponse:
    me = membership(request)
    channel = queries.channel(me.workspace_id, channel_id)
    if channel is None:
        raise Http404("No such channel")
    enabled = request.POST.get("enabled") == "on"
    work.set_channel_switch(channel, switch, enabled, actor=_actor(request), origin=origin_of(request))
    return redirect("web:channels", me.workspace.slug)


urlpatterns: list[URLPattern] = [
    path(f"{CONVERSATION}work/", conversation_tools, name="conversation_tools"),
    path(f"{CONVERSATION}work/assign/", assign, name="work_assign"),
    path(f"{CONVERSATION}work/status/", change_status, name="work_status"),
    path(f"{CONVERSATION}work/snooze/", snooze, name="work_snooze"),
    path(f"{CONVERSATION}work/labels/", add_label, name="work_add_label"),
    path(f"{CONVERSATION}work/labels/<int:label_id>/remove/", remove_label, name="work_remove_label"),
    path(f"{CONVERSATION}transcript.txt", transcript_text, name="transcript_text"),
    path(f"{CONVERSATION}transcript.json", transcript_json, name="transcript_json"),
    path("labels/", labels, name="labels"),
    path("labels/create/", create_label, name="create_label"),
    path("labels/<int:label_id>/rename/", rename_label, name="rename_label"),
    path("labels/<int:label_id>/delete/", delete_label, name="delete_label"),
    path("channels/<int:channel_id>/auto-assign/", channel_auto_assign, name="channel_auto_assign"),
    path("channels/<int:channel_id>/read-receipts/", channel_read_receipts, name="channel_read_receipts"),
]
