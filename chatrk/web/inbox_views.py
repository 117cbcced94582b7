"""The inbox: the conversation list, a conversation's thread, their live updates, retry and media.

Transport only. Every page decrypts what it shows through ``reveal`` (one audited read per model per
page, never one per row), lists page by keyset cursors, and costs the same number of queries for 5
rows as for 50. Live updates are htmx polls of the ``…/live/`` fragments: 204 while nothing changed.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import urlencode

from django import forms
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateformat import format as date_format
from django.utils.http import content_disposition_header
from django.utils.timezone import localtime
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chatrk.accounts.actions import origin_of
from chatrk.accounts.models import User
from chatrk.audit.actions import Actor, record
from chatrk.core.models import Membership
from chatrk.core.roles import Perm, role_allows
from chatrk.crypto.reveal import ERASED, Revealed, Wanted, reveal, reveal_together
from chatrk.inbox import actions as inbox_actions
from chatrk.inbox import live as live_events
from chatrk.inbox import queries as inbox_queries
from chatrk.inbox.models import Contact, Conversation, ConversationLabel, Label, Media, Message
from chatrk.inbox.names import contacts_named
from chatrk.outbound.actions import SendBy, retry_failed
from chatrk.outbound.errors import NotRetryable, SendRefused
from chatrk.outbound.models import OutboxItem
from chatrk.web.access import membership, workspace_page
from chatrk.web.composer_views import composer_context
from chatrk.whatsapp.errors import describe_error

LIST_PAGE = 50
THREAD_PAGE = 50
PREVIEW_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}  # shown inline; others download


# --- the conversation list ------------------------------------------------------------------------


class ListForm(forms.Form):
    view = forms.ChoiceField(
        choices=[("mine", "Mine"), ("unassigned", "Unassigned"), ("all", "All")], required=False
    )
    status = forms.ChoiceField(required=False)
    channel = forms.ChoiceField(required=False)
    label = forms.ChoiceField(required=False)
    assignee = forms.ChoiceField(required=False)
    q = forms.CharField(required=False, max_length=100, strip=True, label="Search by name or number")

    def __init__(self, data: Any, me: Membership, choices: ListChoices) -> None:
        super().__init__(data)
        self._set("status", [("", "Any status"), *Conversation.Status.choices])
        self._set("channel", [("", "Any number"), *[(str(c.pk), c.name) for c in choices.channels]])
        self._set("label", [("", "Any label"), *[(str(label.pk), label.name) for label in choices.labels]])
        self._set("assignee", [("", "Anyone"), *[(str(m.pk), m.user.name) for m in choices.assignees]])

    def _set(self, name: str, options: list[tuple[str, str]]) -> None:
        chosen = self.fields[name]
        assert isinstance(chosen, forms.ChoiceField)
        chosen.choices = options


@dataclass(frozen=True, slots=True)
class ListChoices:
    channels: list[Any]
    labels: list[Label]
    assignees: list[Membership]
    names: dict[int, str]  # every active member's name by user id: the rows' assignees, without a query


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the list, with what its template would otherwise work out per row (a page has 50)."""

    conversation: Conversation
    name: str
    channel: str
    assignee: str
    labels: list[str]
    url: str
    status: str  # the status's label
    at_iso: str  # the <time datetime>; as the ``date:"c"`` filter writes it
    at_shown: str


@dataclass
class ListPage:
    form: ListForm
    rows: list[Row]
    next_cursor: str | None
    unread: dict[str, str]
    query: str  # the filters as a query string, kept by links to threads and pages
    error: str = ""
    searched: bool = False
    paged: bool = False  # an older page (of the list or of a search's results): it stays still
    filtered: bool = False  # a filter or a search narrows the view
    first_run: bool = False  # the workspace has no conversation at all yet
    revealed: dict[int, dict[str, Any]] = field(default_factory=dict)


def _choices(workspace_id: int) -> ListChoices:
    members = (
        Membership.objects.for_workspace(workspace_id)
        .select_related("user")
        .filter(user__is_active=True)
        .order_by("user__name", "pk")
    )
    return ListChoices(
        channels=list(inbox_queries.channels(workspace_id)),
        labels=list(Label.objects.for_workspace(workspace_id).order_by("name")),
        assignees=[m for m in members if inbox_queries.can_be_assigned(m)],
        names={m.user_id: m.user.name for m in members},
    )


def _filters(me: Membership, data: dict[str, str], choices: ListChoices) -> inbox_queries.ConversationFilter:
    view = data.get("view") or "mine"
    assignee = next((m for m in choices.assignees if str(m.pk) == data.get("assignee")), None)
    return inbox_queries.ConversationFilter(
        status=data.get("status") or None,
        channel_id=int(data["channel"]) if data.get("channel") else None,
        label_id=int(data["label"]) if data.get("label") else None,
        unassigned=view == "unassigned",
        assignee_user_id=assignee.user_id if assignee else (me.user_id if view == "mine" else None),
    )


def _search(workspace_id: int, text: str) -> list[int]:
    """Contacts by phone number (any form, exact, through the blind index) or by whole name words."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits and len(digits) >= 6 and not any(ch.isalpha() for ch in text):
        return [contact.pk for contact in inbox_queries.contacts_by_number(workspace_id, text)]
    return contacts_named(workspace_id, text)


# Names only: a number stays hidden until a member asks for it in the contact panel (audited there).
NAME_FIELDS = ["profile_name"]
MESSAGE_FIELDS = ["body", "payload"]


@dataclass
class ListRows:
    """A list page as queried, before its names are decrypted."""

    form: ListForm
    choices: ListChoices
    page: inbox_queries.Page[Conversation]
    contacts: list[Contact]  # the rows' contacts, and the open thread's
    kept: dict[str, str]
    text: str
    cursor: str | None
    error: str


def _list_page(request: HttpRequest, *, extra_contact: int | None = None) -> ListPage:
    listed = _list_rows(request, extra_contact)
    names = reveal(
        _reader(request), membership(request), listed.contacts, NAME_FIELDS, origin=origin_of(request)
    )
    return _listing(request, listed, names)


def _list_rows(request: HttpRequest, extra_contact: int | None) -> ListRows:
    """Filters come from the URL; a search (names and numbers are personal data, never put in a URL,
    a log line or the history) comes in a POST body, with its page cursor."""
    me = membership(request)
    choices = _choices(me.workspace_id)
    raw = {key: request.GET.get(key, "") for key in ("view", "status", "channel", "label", "assignee")}
    searching = request.method == "POST"
    raw["q"] = request.POST.get("q", "") if searching else ""
    source = request.POST if searching else request.GET
    cursor = source.get("cursor") or None
    form = ListForm(raw, me, choices)
    kept = {key: value for key, value in raw.items() if value and key != "q"}
    if not form.is_valid():
        form = ListForm({}, me, choices)
        form.is_valid()
        kept = {}
        error = "That filter or search is not possible: showing your conversations."
    else:
        error = ""
    data = {key: str(value) for key, value in form.cleaned_data.items()}
    where = _filters(me, data, choices)
    text = data.get("q", "")
    if text:
        found = _search(me.workspace_id, text)
        where = inbox_queries.ConversationFilter(**{**_as_dict(where), "contact_ids": tuple(found)})
    try:
        page = inbox_queries.conversations(me.workspace_id, where, limit=LIST_PAGE, cursor=cursor)
    except inbox_queries.BadCursor:
        page = inbox_queries.conversations(me.workspace_id, where, limit=LIST_PAGE, cursor=None)
        error = "That page link was not valid: showing the newest conversations."
    # The list query joined each row's contact; only the open thread's contact may need fetching.
    contacts = {c.contact_id: c.contact for c in page.rows}
    if extra_contact and extra_contact not in contacts:
        extra = Contact.objects.for_workspace(me.workspace_id).filter(pk=extra_contact)
        contacts.update((contact.pk, contact) for contact in extra)
    return ListRows(form=form, choices=choices, page=page, contacts=list(contacts.values()), kept=kept,
                    text=text, cursor=cursor, error=error)  # fmt: skip


def _listing(request: HttpRequest, listed: ListRows, names: list[Revealed]) -> ListPage:
    """The list page from its rows and their contacts' names (``names``, in ``listed.contacts`` order)."""
    me = membership(request)
    page, kept, text = listed.page, listed.kept, listed.text
    query = urlencode(kept)
    first_run = not page.rows and not Conversation.objects.for_workspace(me.workspace_id).exists()
    revealed = {contact.pk: values for contact, values in zip(listed.contacts, names, strict=True)}
    rows = _rows(request, page.rows, query, revealed, listed.choices)
    return ListPage(
        form=listed.form, rows=rows, next_cursor=page.next_cursor, unread=_unread(me), query=query,
        error=listed.error, searched=bool(text), revealed=revealed, paged=bool(listed.cursor),
        first_run=first_run, filtered=bool(text) or any(key != "view" for key in kept),
    )  # fmt: skip


def _reader(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # workspace_page has checked the session
    return user


def _as_dict(where: inbox_queries.ConversationFilter) -> dict[str, Any]:
    return {name: getattr(where, name) for name in where.__dataclass_fields__}


UNREAD_CAP = 100  # beyond this a tab says "99+": counting further would read the whole backlog


def _unread(me: Membership) -> dict[str, str]:
    """Conversations with unread messages in each view, counted up to ``UNREAD_CAP`` (a partial index
    holds only unread conversations, so each count reads at most that many index entries)."""
    unread = Conversation.objects.for_workspace(me.workspace_id).filter(unread__gt=0).values("pk")
    views = {"all": unread, "mine": unread.filter(assignee_id=me.user_id),
             "unassigned": unread.filter(assignee__isnull=True)}  # fmt: skip
    counts = {name: rows[:UNREAD_CAP].count() for name, rows in views.items()}
    return {name: ("99+" if n >= UNREAD_CAP else str(n)) if n else "" for name, n in counts.items()}


def _rows(
    request: HttpRequest, conversations: list[Conversation], query: str, revealed: dict[int, Revealed],
    choices: ListChoices,
) -> list[Row]:  # fmt: skip
    """The list's rows, with their contacts' decrypted names (``revealed``, by contact id)."""
    me = membership(request)
    channels = {c.pk: c.name for c in choices.channels}
    assignees = {c.assignee_id for c in conversations if c.assignee_id}
    users = {user_id: choices.names[user_id] for user_id in assignees if user_id in choices.names}
    if assignees - users.keys():  # assigned to someone no longer an active member
        users.update(User.objects.filter(pk__in=assignees - users.keys()).values_list("pk", "name"))
    labels: dict[int, list[str]] = {}
    for conversation_id, name in (
        ConversationLabel.objects.for_workspace(me.workspace_id)
        .filter(conversation_id__in=[c.pk for c in conversations])
        .order_by("label__name")
        .values_list("conversation_id", "label__name")
    ):
        labels.setdefault(conversation_id, []).append(name)
    # Every row's link differs only by the conversation's id: reverse once, not 50 times.
    link = reverse("web:conversation", args=[me.workspace.slug, 0]).removesuffix("0/") + "{}/"
    statuses = dict(Conversation.Status.choices)
    rows = []
    for conversation in conversations:
        person = revealed.get(conversation.contact_id, {})
        at = localtime(conversation.last_message_at)
        rows.append(
            Row(
                conversation=conversation,
                name=_text(person.get("profile_name")),
                channel=channels.get(conversation.channel_id, ""),
                assignee=users.get(conversation.assignee_id or 0, ""),
                labels=labels.get(conversation.pk, []),
                url=link.format(conversation.pk) + (f"?{query}" if query else ""),
                status=str(statuses.get(conversation.status, conversation.status)),
                at_iso=at.isoformat(),
                at_shown=date_format(at, "j M H:i"),
            )
        )
    return rows


def _template_spec(payload: Any) -> dict[str, Any]:
    """The template part of a sent template's payload (Meta's ``{"type": "template", "template": …}``)."""
    spec = payload.get("template", payload) if isinstance(payload, dict) else None
    return spec if isinstance(spec, dict) and isinstance(spec.get("name"), str) else {}


def _template_summary(payload: Any) -> str:
    """A template sent before its text was kept with the message: its name and the values it was sent
    with (messages sent since carry the full text the customer read, shown instead)."""
    spec = _template_spec(payload)
    if not spec:
        return ""
    values = [
        str(parameter.get("text") or parameter.get("payload") or "")
        for component in spec.get("components") or []
        if isinstance(component, dict)
        for parameter in component.get("parameters") or []
        if isinstance(parameter, dict)
    ]
    shown = ", ".join(value for value in values if value)
    return f"Template “{spec['name']}”" + (f": {shown}" if shown else "")


def _text(value: Any) -> str:
    if value is ERASED:
        return "[erased]"
    return value if isinstance(value, str) else ""


@workspace_page(Perm.VIEW_WORKSPACE)
@require_http_methods(["GET", "POST"])  # POST: a search, kept out of the URL
def inbox(request: HttpRequest) -> HttpResponse:
    me = membership(request)
    if not role_allows(me.role, Perm.READ_INBOX):
        return render(request, "web/inbox.html", {"can_read": False})
    listing = _list_page(request)
    mark = live_events.current_mark(me.workspace_id).encode()
    return render(request, "web/inbox.html", {"can_read": True, "listing": listing, "mark": mark})


@workspace_page(Perm.READ_INBOX)
@require_http_methods(["GET", "POST"])  # POST: a search's results, the search in the body
def inbox_live(request: HttpRequest) -> HttpResponse:
    """The list again when anything changed in the workspace since ``mark``, else 204. A search's
    results poll by POST with the search (``q``) in the body, as the search itself was sent."""
    me = membership(request)
    mark = live_events.current_mark(me.workspace_id)
    try:
        if live_events.Mark.decode(request.GET.get("mark", "")[:200]) == mark:
            return HttpResponse(status=204)
    except live_events.BadCursor:
        pass  # an unreadable mark: answer with the list and a good one
    listing = _list_page(request, extra_contact=None)
    context = {"listing": listing, "mark": mark.encode(), "current_id": _int(request.GET.get("open"))}
    return render(request, "web/inbox/_list.html", context)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 20 else None


# --- the thread -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    css: str
    symbol: str
    word: str
    spelled: bool  # the word is shown beside the symbol, not only to screen readers


# An outbound message's delivery state as the thread shows it; other statuses show no tick.
TICKS: dict[str, Tick] = {
    Message.Status.QUEUED: Tick("tick-queued", "◷", "Queued", spelled=True),
    Message.Status.SENT: Tick("tick-sent", "✓", "Sent", spelled=False),
    Message.Status.DELIVERED: Tick("tick-delivered", "✓✓", "Delivered", spelled=False),
    Message.Status.READ: Tick("tick-read", "✓✓", "Read", spelled=False),
    Message.Status.FAILED: Tick("tick-failed", "!", "Failed", spelled=True),
}


@dataclass
class Item:
    """One timeline entry: a message, a note, an event, with what the page shows beside it.

    What the partial would otherwise work out per message (its classes, its times, its tick) is
    computed here once: a thread page shows 50 entries, and template lookups cost more than Python."""

    message: Message
    body: str
    kind: str  # in, out, note, event, system
    edited: bool = False
    deleted: bool = False
    reactions: list[str] = field(default_factory=list)
    quoted: str | None = None
    media: list[Media] = field(default_factory=list)
    failure: str = ""
    author: str = ""
    template: str = ""  # a sent template's name, above the text the customer read
    css: str = field(init=False)
    failed: bool = field(init=False)
    at_iso: str = field(init=False)  # the <time datetime>; as the ``date:"c"`` filter writes it
    at_shown: str = field(init=False)
    tick: Tick | None = field(init=False)

    def __post_init__(self) -> None:
        status = self.message.status
        self.failed = status == Message.Status.FAILED
        self.css = f"msg msg-{self.kind}" + (" msg-failed" if self.failed else "")
        at = localtime(self.message.created_at)
        self.at_iso, self.at_shown = at.isoformat(), date_format(at, "j M H:i")
        self.tick = TICKS.get(status) if self.kind == "out" else None


@dataclass
class Thread:
    items: list[Item]
    older_cursor: str | None
    paging: bool  # showing older messages: no live updates


def _conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    found = inbox_queries.conversation(membership(request).workspace_id, conversation_id)
    if found is None:
        raise Http404("No such conversation")
    return found


@dataclass
class ThreadRows:
    """A thread page as queried, before its messages are decrypted."""

    rows: list[Message]  # oldest first, as on screen
    quoted: list[Message]  # messages replied to from this page that are not on it
    next_cursor: str | None
    paging: bool

    @property
    def everything(self) -> list[Message]:
        return self.rows + self.quoted


def _thread(request: HttpRequest, conversation: Conversation, cursor: str | None) -> Thread:
    fetched = _thread_rows(request, conversation, cursor)
    plain = reveal(
        _reader(request), membership(request), fetched.everything, MESSAGE_FIELDS, origin=origin_of(request)
    )
    return _timeline(request, fetched, plain)


def _thread_rows(request: HttpRequest, conversation: Conversation, cursor: str | None) -> ThreadRows:
    me = membership(request)
    page = inbox_queries.messages(me.workspace_id, conversation.pk, limit=THREAD_PAGE, cursor=cursor)
    rows = list(reversed(page.rows))  # oldest first on screen
    on_page = {row.wamid for row in rows if row.wamid}
    wanted = {row.reply_to_wamid for row in rows if row.reply_to_wamid and row.kind != "reaction"}
    quoted_rows = list(
        Message.objects.for_workspace(me.workspace_id).filter(
            conversation_id=conversation.pk, wamid__in=wanted - on_page
        )
    ) if wanted - on_page else []  # fmt: skip
    return ThreadRows(rows=rows, quoted=quoted_rows, next_cursor=page.next_cursor, paging=bool(cursor))


def _timeline(request: HttpRequest, fetched: ThreadRows, plain: list[Revealed]) -> Thread:
    """The thread's entries from its rows and their decrypted values (``plain``, in
    ``fetched.everything`` order)."""
    me = membership(request)
    rows, everything = fetched.rows, fetched.everything
    on_page = {row.wamid for row in rows if row.wamid}
    opened = {row.pk: values for row, values in zip(everything, plain, strict=True)}
    by_wamid = {row.wamid: row for row in everything if row.wamid}
    media: dict[int, list[Media]] = {}
    for file in Media.objects.for_workspace(me.workspace_id).filter(message_id__in=[r.pk for r in rows]):
        media.setdefault(file.message_id, []).append(file)
    reasons = _failure_reasons(me.workspace_id, [r for r in rows if r.status == Message.Status.FAILED])
    authors = dict(
        User.objects.filter(pk__in={r.sent_by_id for r in rows if r.sent_by_id}).values_list("pk", "name")
    )
    items: list[Item] = []
    reactions: dict[str, list[str]] = {}
    for row in rows:
        values = opened[row.pk]
        body = _text(values.get("body"))
        payload = values.get("payload")
        template = str(_template_spec(payload).get("name", "")) if row.kind == "template" and body else ""
        if not body and row.kind == "template":
            body = _template_summary(payload)
        if row.kind == "reaction" and row.reply_to_wamid in on_page:
            if body and not (isinstance(payload, dict) and payload.get("removed")):
                reactions.setdefault(row.reply_to_wamid, []).append(body)
            continue
        quoted = None
        if row.reply_to_wamid and row.kind != "reaction":
            target = by_wamid.get(row.reply_to_wamid)
            quoted = _text(opened[target.pk].get("body"))[:140] if target else "A message not shown here"
        items.append(
            Item(
                message=row,
                body=body,
                kind=_kind_of(row),
                edited=isinstance(payload, dict) and "edited_at" in payload,
                deleted=row.status == Message.Status.DELETED,
                quoted=quoted,
                media=media.get(row.pk, []),
                failure=reasons.get(row.pk, ""),
                author=authors.get(row.sent_by_id or 0, ""),
                template=template,
            )
        )
    for item in items:
        item.reactions = reactions.get(item.message.wamid or "", [])
    return Thread(items=items, older_cursor=fetched.next_cursor, paging=fetched.paging)


def _kind_of(row: Message) -> str:
    if row.direction in {Message.Direction.NOTE, Message.Direction.EVENT}:
        return str(row.direction)
    if row.kind == "system":
        return "system"
    return "in" if row.direction == Message.Direction.INBOUND else "out"


def _failure_reasons(workspace_id: int, failed: list[Message]) -> dict[int, str]:
    """Why each failed message failed, in plain words (Meta's code, else the sender's own reason)."""
    if not failed:
        return {}
    latest: dict[int, str] = {}
    for message_id, reason in (
        OutboxItem.objects.filter(workspace_id=workspace_id, message_id__in=[m.pk for m in failed])
        .order_by("attempt")
        .values_list("message_id", "last_error_reason")
    ):
        latest[message_id] = reason
    return {
        m.pk: describe_error(m.error_code).reason if m.error_code else latest.get(m.pk) or "Not sent."
        for m in failed
    }


def _thread_context(request: HttpRequest, conversation: Conversation, thread: Thread) -> dict[str, Any]:
    me = membership(request)
    # An older page does not follow live changes (no poll), so it needs no mark.
    mark = "" if thread.paging else live_events.current_mark(me.workspace_id, conversation.pk).encode()
    return {
        "conversation": conversation,
        "thread": thread,
        "thread_mark": mark,
        "can_reply": role_allows(me.role, Perm.REPLY_INBOX),
        "preview_types": PREVIEW_TYPES,
    }


@workspace_page(Perm.READ_INBOX)
@require_GET
def conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    me = membership(request)
    found = _conversation(request, conversation_id)
    before = request.GET.get("before") or None
    error = ""
    try:
        fetched = _thread_rows(request, found, before)
    except inbox_queries.BadCursor:
        fetched = _thread_rows(request, found, None)
        error = "That page link was not valid: showing the newest."
    listed = _list_rows(request, extra_contact=found.contact_id)
    # The thread's messages and the list's names in one audited read: one key query, one transaction.
    wanted: list[Wanted] = [(fetched.everything, MESSAGE_FIELDS), (listed.contacts, NAME_FIELDS)]
    bodies, names = reveal_together(_reader(request), me, wanted, origin=origin_of(request))
    if not before:  # once its messages have been read: a failed read leaves it unread
        inbox_actions.mark_conversation_read(found, actor=Actor.user(me.user_id), origin=origin_of(request))
        for row in listed.page.rows:
            if row.pk == found.pk:
                row.unread = 0  # the list was read before the mark; the tabs' counts are read after it
    thread = _timeline(request, fetched, bodies)
    listing = _listing(request, listed, names)
    person = listing.revealed.get(found.contact_id, {})
    context = {
        "can_read": True,
        "listing": listing,
        "mark": live_events.current_mark(me.workspace_id).encode(),
        "current_id": found.pk,
        "contact_name": _text(person.get("profile_name")),
        "thread_error": error,
        **_thread_context(request, found, thread),
        **composer_context(request, found),
    }
    return render(request, "web/inbox.html", context)


@workspace_page(Perm.READ_INBOX)
@require_GET
def conversation_live(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The newest page of the thread again when a message arrived or a tick changed, else 204."""
    me = membership(request)
    found = _conversation(request, conversation_id)
    mark = live_events.current_mark(me.workspace_id, found.pk)
    try:
        if live_events.Mark.decode(request.GET.get("mark", "")[:200]) == mark:
            return HttpResponse(status=204)
    except live_events.BadCursor:
        pass
    inbox_actions.mark_conversation_read(found, actor=Actor.user(me.user_id), origin=origin_of(request))
    context = _thread_context(request, found, _thread(request, found, None))
    return render(request, "web/inbox/_timeline.html", context)


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def retry(request: HttpRequest, conversation_id: int, message_id: int) -> HttpResponse:
    me = membership(request)
    found = _conversation(request, conversation_id)
    message = (
        Message.objects.for_workspace(me.workspace_id)
        .filter(pk=message_id if 0 < message_id < 2**63 else 0, conversation_id=found.pk)
        .first()
    )
    if message is None:
        raise Http404("No such message")
    by = SendBy(me.workspace_id, Actor.user(me.user_id), me.role, user_id=me.user_id)
    try:
        retry_failed(by, message, origin=origin_of(request))
    except (NotRetryable, SendRefused) as error:
        return render(
            request, "web/error.html", {"title": "Not sent again", "message": str(error)}, status=409
        )
    return redirect(reverse("web:conversation", args=[me.workspace.slug, found.pk]) + f"#m{message.pk}")


# --- media ----------------------------------------------------------------------------------------


@workspace_page(Perm.READ_INBOX)
@require_GET
def media(request: HttpRequest, media_id: int) -> HttpResponse | StreamingHttpResponse:
    """A stored file, decrypted as it streams: an image preview inline, anything else as a download."""
    from chatrk.crypto.fields import open_for_system
    from chatrk.crypto.files import decrypt_chunks
    from chatrk.ingest import media as inbound_files
    from chatrk.outbound import media as outbound_files

    me = membership(request)
    found = (
        Media.objects.for_workspace(me.workspace_id)
        .filter(pk=media_id if 0 < media_id < 2**63 else 0, stored_at__isnull=False)
        .select_related("message")
        .first()
    )
    if found is None:
        raise Http404("No such file")
    outbound = found.message.direction == Message.Direction.OUTBOUND
    path = outbound_files.path_of(found) if outbound else inbound_files.path_of(found)
    binding = outbound_files.binding_of(found) if outbound else inbound_files.binding(found)
    inline = found.mime_type in PREVIEW_TYPES and "download" not in request.GET
    try:
        source = path.open("rb")
    except FileNotFoundError:
        raise Http404("No such file") from None
    chunks = decrypt_chunks(source, binding=binding)
    try:
        first = next(chunks, b"")
    except Exception:
        source.close()
        raise
    record("media.read", actor=Actor.user(me.user_id), workspace_id=me.workspace_id,
           target=("media", found.pk), origin=origin_of(request),
           details={"disposition": "inline" if inline else "attachment"})  # fmt: skip

    content_type = found.mime_type if inline else "application/octet-stream"
    response = StreamingHttpResponse(_Decrypted(source, first, chunks), content_type=content_type)
    stored_name = open_for_system(found, "filename")
    name = stored_name if isinstance(stored_name, str) and stored_name else _default_name(found)
    response["Content-Disposition"] = content_disposition_header(not inline, name) or "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if found.size is not None:
        response["Content-Length"] = str(found.size)
    return response


class _Decrypted:
    """The plaintext chunks; the response closes the file even if nobody reads them."""

    def __init__(self, source: BinaryIO, first: bytes, rest: Iterator[bytes]) -> None:
        self._source, self._first, self._rest = source, first, rest

    def __iter__(self) -> Iterator[bytes]:
        yield self._first
        yield from self._rest

    def close(self) -> None:
        self._source.close()


def _default_name(found: Media) -> str:
    extension = mimetypes.guess_extension(found.mime_type.split(";")[0].strip()) or ".bin"
    return f"whatsapp-{found.pk}{extension}"
