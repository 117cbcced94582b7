"""The contact panel beside a thread: consent per purpose with its proof, block, notes, and a
data-subject requests section that says "No requests yet" until the privacy issue builds the requests.

The panel is its own page (``web:contact_panel``): the thread page loads it by htmx once the thread is
shown (an htmx request gets the partial ``web/inbox/_contact.html``), any other request gets the partial
inside the base layout. Every form posts with and
without htmx: htmx swaps the new panel in place (validation errors come back 200 so htmx swaps them in,
as it leaves 4xx answers unswapped); a plain POST redirects back to the panel, or answers 400/409.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_POST

from chatrk.accounts.actions import origin_of
from chatrk.accounts.models import User
from chatrk.audit.actions import Actor
from chatrk.consent import actions as consent_actions
from chatrk.consent import queries as consent_queries
from chatrk.consent.display import proof_rows
from chatrk.consent.errors import ConsentError
from chatrk.consent.models import CONSENT_PURPOSES, ConsentWording, Purpose, Source
from chatrk.core.roles import Perm, role_allows
from chatrk.crypto.reveal import ERASED, reveal
from chatrk.inbox import queries as inbox_queries
from chatrk.inbox.actions import CONTACT_NOTES_MAX, set_contact_notes
from chatrk.inbox.blocking import block_contact, unblock_contact
from chatrk.inbox.errors import InboxError
from chatrk.inbox.models import Contact, Conversation, Message
from chatrk.web.access import membership, workspace_page

# How an agent heard the person agree (the ledger's capture methods that fit a person, not a machine).
AGENT_CAPTURE_METHODS = [
    ("verbal", "Said so on a call or in person"),
    ("paper", "Signed a paper form"),
    ("signature", "Signed electronically"),
    ("other", "Other (the wording above was shown)"),
]


class ConsentCaptureForm(forms.Form):
    wording_version = forms.IntegerField(widget=forms.HiddenInput)
    purposes = forms.MultipleChoiceField(
        label="The person agreed to receive", widget=forms.CheckboxSelectMultiple
    )
    capture_method = forms.ChoiceField(label="How they agreed", choices=AGENT_CAPTURE_METHODS)
    evidence_last_message = forms.BooleanField(
        required=False, label="Their latest message in this conversation is the evidence"
    )

    def __init__(self, *args: Any, wording: ConsentWording, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(Purpose.choices)
        purposes = self.fields["purposes"]
        assert isinstance(purposes, forms.MultipleChoiceField)
        purposes.choices = [(p, labels.get(p, p)) for p in wording.purposes]
        self.fields["wording_version"].initial = wording.version


class OptOutForm(forms.Form):
    purposes = forms.MultipleChoiceField(
        label="The person no longer wants", widget=forms.CheckboxSelectMultiple,
        choices=[(p.value, p.label) for p in CONSENT_PURPOSES],
    )  # fmt: skip


class NotesForm(forms.Form):
    notes = forms.CharField(
        required=False,
        max_length=CONTACT_NOTES_MAX,
        label="Notes about this person",
        help_text="Seen only by your team; stored encrypted. Every change is recorded.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )


def _context(
    request: HttpRequest, conversation: Conversation, *, number: str = "", **extra: Any
) -> dict[str, Any]:
    """What ``web/inbox/_contact.html`` shows: one audited read of the name and notes, one of the
    consent proofs' IP addresses and user agents (only those that hold one)."""
    me = membership(request)
    user = _user(request)
    contact = Contact.objects.for_workspace(me.workspace_id).get(pk=conversation.contact_id)
    origin = origin_of(request)
    [person] = reveal(user, me, [contact], ["profile_name", "notes"], origin=origin, purpose="contact_panel")
    can_reply = role_allows(me.role, Perm.REPLY_INBOX)
    context: dict[str, Any] = {
        "conversation": conversation,
        "contact": contact,
        "erased": person["profile_name"] is ERASED,
        "name": "" if person["profile_name"] is ERASED else person["profile_name"] or "",
        "number": number,
        "blocked": contact.blocked_at is not None,
        "can_reply": can_reply,
        "can_read_consent": role_allows(me.role, Perm.READ_CONSENT),
        "notes_form": extra.pop("notes_form", None)
        or NotesForm(initial={"notes": "" if person["notes"] is ERASED else person["notes"] or ""}),
        "workspace_slug": me.workspace.slug,
        **extra,
    }
    if context["can_read_consent"]:
        context.update(_consent(
            request, conversation, capture=can_reply, form=extra.get("consent_form"),
            opt_out=extra.get("opt_out_form") or OptOutForm(),
        ))  # fmt: skip
    return context


def _consent(
    request: HttpRequest, conversation: Conversation, *, capture: bool, form: ConsentCaptureForm | None,
    opt_out: OptOutForm | None,
) -> dict[str, Any]:  # fmt: skip
    me = membership(request)
    states = consent_queries.states(me.workspace_id, conversation.contact_id)
    events = list(consent_queries.history(me.workspace_id, conversation.contact_id))
    rows = proof_rows(_user(request), me, events, origin=origin_of(request), purpose="consent_proof")
    purposes = []
    for purpose in CONSENT_PURPOSES:
        history = [row for row in rows if row.event.purpose == purpose]
        history.reverse()  # newest first
        purposes.append({
            "key": purpose.value, "label": purpose.label, "state": states[purpose.value],
            "proof": history[0] if history else None, "history": history,
        })  # fmt: skip
    wording = consent_queries.current_wording(me.workspace_id)
    if capture and wording is not None and form is None:
        form = ConsentCaptureForm(wording=wording)
    return {
        "purposes": purposes,
        "reply_hold": states[Purpose.SERVICE.value] == "revoked",
        "wording": wording,
        "consent_form": form if capture else None,
        "opt_out_form": opt_out if capture else None,
    }


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # workspace_page has checked the session
    return user


def _conversation_or_404(request: HttpRequest, conversation_id: int) -> Conversation:
    found = inbox_queries.conversation(membership(request).workspace_id, conversation_id)
    if found is None:
        raise Http404("No such conversation")
    return found


def _panel(
    request: HttpRequest, conversation: Conversation, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = _context(request, conversation, **extra)
    if request.headers.get("HX-Request"):
        return render(request, "web/inbox/_contact.html", context)
    return render(request, "web/inbox/contact_page.html", context, status=status)


def _done(request: HttpRequest, conversation: Conversation, **extra: Any) -> HttpResponse:
    """After a change: htmx gets the new panel; a plain form post goes back to the thread page."""
    if request.headers.get("HX-Request"):
        return _panel(request, conversation, **extra)
    return redirect("web:conversation", membership(request).workspace.slug, conversation.pk)


@workspace_page(Perm.READ_INBOX)
@require_GET
def contact_panel(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _panel(request, _conversation_or_404(request, conversation_id))


@workspace_page(Perm.READ_INBOX)
@require_POST
def reveal_number(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The WhatsApp number stays hidden until a member asks for it: each showing is an audited read."""
    conversation = _conversation_or_404(request, conversation_id)
    me = membership(request)
    contact = Contact.objects.for_workspace(me.workspace_id).get(pk=conversation.contact_id)
    [opened] = reveal(
        _user(request), me, [contact], ["wa_id"], origin=origin_of(request), purpose="show_number"
    )
    number = "[erased]" if opened["wa_id"] is ERASED else f"+{str(opened['wa_id']).removeprefix('+')}"
    return _panel(request, conversation, number=number)


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def capture_consent(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Consent an agent heard, recorded with the exact wording the panel showed (source "agent")."""
    conversation = _conversation_or_404(request, conversation_id)
    me = membership(request)
    if not role_allows(me.role, Perm.READ_CONSENT):
        raise PermissionDenied("Your role cannot see consent.")
    wording = consent_queries.current_wording(me.workspace_id)
    if wording is None:
        return _panel(request, conversation, status=409, consent_error="Publish a consent wording first.")
    form = ConsentCaptureForm(request.POST, wording=wording)
    if not form.is_valid():
        return _panel(request, conversation, status=400, consent_form=form)
    if form.cleaned_data["wording_version"] != wording.version:
        return _panel(
            request, conversation, status=409,
            consent_error="The wording changed since this panel was opened. Read the new wording to the "
            "person, then record their consent again.",
        )  # fmt: skip
    evidence = _latest_inbound(conversation) if form.cleaned_data["evidence_last_message"] else None
    proof = consent_actions.Proof(
        source=Source.AGENT,
        captured_by=Actor.user(me.user_id),
        wording_id=wording.pk,
        capture_method=form.cleaned_data["capture_method"],
        evidence_wamid=(evidence.wamid or "") if evidence else "",
        evidence_message_id=evidence.pk if evidence else None,
    )
    try:
        consent_actions.record_consent(
            me.workspace_id, conversation.contact_id, form.cleaned_data["purposes"], proof
        )
    except ConsentError as error:
        form.add_error(None, error.message)
        return _panel(request, conversation, status=400, consent_form=form)
    return _done(request, conversation, consent_notice="Consent recorded.")


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def record_opt_out(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """An opt-out the person told an agent (on a call, in person): source "agent", method "verbal"."""
    conversation = _conversation_or_404(request, conversation_id)
    me = membership(request)
    form = OptOutForm(request.POST)
    if not form.is_valid():
        return _panel(request, conversation, status=400, opt_out_form=form)
    proof = consent_actions.Proof(
        source=Source.AGENT, captured_by=Actor.user(me.user_id), capture_method="verbal"
    )
    consent_actions.revoke_consent(
        me.workspace_id, conversation.contact_id, form.cleaned_data["purposes"], proof
    )
    return _done(request, conversation, consent_notice="Opt-out recorded.")


def _latest_inbound(conversation: Conversation) -> Message | None:
    found: Message | None = (
        Message.objects.for_workspace(conversation.workspace_id)
        .filter(conversation_id=conversation.pk, direction=Message.Direction.INBOUND)
        .order_by("-created_at", "-pk")
        .first()
    )
    return found


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def save_notes(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation_or_404(request, conversation_id)
    me = membership(request)
    form = NotesForm(request.POST)
    if form.is_valid():
        contact = Contact.objects.for_workspace(me.workspace_id).get(pk=conversation.contact_id)
        try:
            set_contact_notes(
                contact, form.cleaned_data["notes"], actor=Actor.user(me.user_id), origin=origin_of(request)
            )
            return _done(request, conversation, notes_notice="Notes saved.")
        except InboxError as error:
            form.add_error("notes", error.message)
    return _panel(request, conversation, status=400, notes_form=form)


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def block(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _set_blocked(request, conversation_id, blocked=True)


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def unblock(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _set_blocked(request, conversation_id, blocked=False)


def _set_blocked(request: HttpRequest, conversation_id: int, *, blocked: bool) -> HttpResponse:
    conversation = _conversation_or_404(request, conversation_id)
    me = membership(request)
    contact = Contact.objects.for_workspace(me.workspace_id).get(pk=conversation.contact_id)
    change = block_contact if blocked else unblock_contact
    change(contact, actor=Actor.user(me.user_id), origin=origin_of(request))
    notice = (
        "Number blocked: nothing more is stored from it or sent to it." if blocked else "Number unblocked."
    )
    return _done(request, conversation, block_notice=notice)


urlpatterns: list[URLPattern] = [
    path("inbox/c/<int:conversation_id>/contact/", contact_panel, name="contact_panel"),
    path("inbox/c/<int:conversation_id>/contact/number/", reveal_number, name="contact_reveal_number"),
    path("inbox/c/<int:conversation_id>/contact/consent/", capture_consent, name="contact_capture_consent"),
    path("inbox/c/<int:conversation_id>/contact/opt-out/", record_opt_out, name="contact_record_opt_out"),
    path("inbox/c/<int:conversation_id>/contact/notes/", save_notes, name="contact_notes"),
    path("inbox/c/<int:conversation_id>/contact/block/", block, name="contact_block"),
    path("inbox/c/<int:conversation_id>/contact/unblock/", unblock, name="contact_unblock"),
]
