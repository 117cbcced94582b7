"""Consent pages (transport only): the public hosted opt-in page and the workspace's consent page."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import suppress
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chatrk.accounts.actions import origin_of
from chatrk.accounts.models import User
from chatrk.accounts.throttle import Lane, Policy, register_failure, retry_after
from chatrk.audit.actions import ANONYMOUS, Actor, keyed_hash, record
from chatrk.consent import actions, imports, queries
from chatrk.consent.display import proof_rows
from chatrk.consent.errors import ConsentError
from chatrk.consent.keywords import LANGUAGE_OPT_OUT
from chatrk.consent.models import CONSENT_PURPOSES, STATUS_AFTER, ConsentEvent, Kind, Purpose, Source, Status
from chatrk.core.clock import now
from chatrk.core.models import Workspace
from chatrk.core.roles import Perm, role_allows
from chatrk.crypto.fields import open_for_system
from chatrk.crypto.reveal import ERASED
from chatrk.inbox.actions import contact_for
from chatrk.inbox.queries import contacts_by_number
from chatrk.web.access import membership, workspace_page

# Every submission counts (not only failures): a source address gets 10, then waits, growing to an hour.
OPT_IN_SOURCE = Policy(free_failures=10, cap=timedelta(hours=1), forget_after=timedelta(hours=1))


class OptInForm(forms.Form):
    phone = forms.CharField(
        max_length=32,
        label="Your WhatsApp number",
        help_text="International format with + and the country code, e.g. +44 7700 900123.",
    )
    agree = forms.BooleanField(label="I agree to the text above.")
    wording_version = forms.IntegerField(widget=forms.HiddenInput)


@require_http_methods(["GET", "POST"])
def optin(request: HttpRequest, ws: str) -> HttpResponse:
    """Public: a person gives their number and agrees to the workspace's current wording. No tracking,
    no third-party assets; the same answer whether or not the number was known."""
    workspace = Workspace.objects.filter(slug=ws).first()
    wording = queries.current_wording(workspace.pk) if workspace else None
    if workspace is None or wording is None:
        raise Http404("No opt-in page here")
    double = actions.settings_for(workspace.pk).double_opt_in
    context: dict[str, Any] = {"wording": wording, "double_opt_in": double}
    if request.method == "GET":
        context["form"] = OptInForm(initial={"wording_version": wording.version})
        return render(request, "consent/optin.html", context)
    origin = origin_of(request)
    # The address is kept only as an HMAC in the throttle table.
    lanes = [Lane(f"optin-ip:{keyed_hash(origin.ip or '-', purpose='optin-throttle')[:40]}", OPT_IN_SOURCE)]
    wait = retry_after(lanes, now())
    if wait:
        context["form"] = OptInForm(initial={"wording_version": wording.version})
        context["throttled"] = "Too many sign-ups from your network. Try again later."
        response = render(request, "consent/optin.html", context, status=429)
        response["Retry-After"] = str(wait)
        return response
    register_failure(lanes, now())
    form = OptInForm(request.POST)
    number = ""
    if form.is_valid():
        if form.cleaned_data["wording_version"] != wording.version:
            context["form"] = OptInForm(initial={"wording_version": wording.version})
            context["changed"] = True
            return render(request, "consent/optin.html", context, status=409)
        try:
            number = imports.e164(form.cleaned_data["phone"])
        except imports.RowRejected:
            form.add_error("phone", "Enter a valid number in international format, starting with +.")
    if not form.is_valid():
        context["form"] = form
        return render(request, "consent/optin.html", context, status=400)
    proof = actions.Proof(
        source=Source.WEB_FORM,
        captured_by=ANONYMOUS,
        wording_id=wording.pk,
        capture_method="checkbox",
        ip=origin.ip,
        user_agent=origin.user_agent,
    )
    contact = contact_for(workspace.pk, number.removeprefix("+"))
    # A refusal (e.g. a revocation recorded in this same instant) must not change the answer.
    with suppress(ConsentError):
        actions.record_consent(workspace.pk, contact.pk, list(wording.purposes), proof)
    return render(request, "consent/optin_done.html", context)


# --- the workspace page ------------------------------------------------------------------------------


class WordingForm(forms.Form):
    business_name = forms.CharField(max_length=120)
    text = forms.CharField(widget=forms.Textarea, max_length=4000, label="Exact wording shown")
    purposes = forms.MultipleChoiceField(
        choices=[(p.value, p.label) for p in CONSENT_PURPOSES], widget=forms.CheckboxSelectMultiple
    )


class SettingsForm(forms.Form):
    double_opt_in = forms.BooleanField(
        required=False, label="Double opt-in: consent captured off WhatsApp is active only after a YES reply"
    )
    confirmation_template = forms.CharField(max_length=512, label="Confirmation template name")
    confirmation_language = forms.CharField(max_length=15, label="Confirmation template language")
    keyword_languages = forms.MultipleChoiceField(
        required=False,
        label="Also honour opt-out keywords in",
        choices=[(code, code) for code in sorted(LANGUAGE_OPT_OUT)],
        widget=forms.CheckboxSelectMultiple,
    )
    opt_out_keywords = forms.CharField(
        required=False, max_length=500, label="Extra opt-out keywords (single words, comma-separated)"
    )
    resubscribe_keywords = forms.CharField(
        required=False, max_length=500, label="Extra resubscribe keywords (single words, comma-separated)"
    )
    opt_out_reply = forms.CharField(
        required=False,  # left empty: the current wording stays
        max_length=1024,
        label="Reply sent once after a customer opts out by keyword",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def _words(value: str) -> list[str]:
    return [word.strip() for word in value.split(",") if word.strip()]


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file")


def _page(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    me = membership(request)
    can_review = role_allows(me.role, Perm.REPLY_INBOX) and role_allows(me.role, Perm.READ_CONSENT)
    context = {
        "wordings": queries.wordings(me.workspace_id),
        "settings": actions.settings_for(me.workspace_id),
        "can_manage": role_allows(me.role, Perm.MANAGE_CONSENT),
        "wording_form": extra.pop("wording_form", None)
        or WordingForm(initial={"business_name": me.workspace.name}),
        "import_form": extra.pop("import_form", None) or ImportForm(),
        "settings_form": extra.pop("settings_form", None) or _settings_form(me.workspace_id),
        "workspace": me.workspace,
        "reviews": queries.open_reviews(me.workspace_id)[:100] if can_review else [],
        "can_review": can_review,
        **extra,
    }
    return render(request, "consent/workspace.html", context, status=status)


@workspace_page(Perm.READ_CONSENT)
@require_GET
def consent_home(request: HttpRequest) -> HttpResponse:
    return _page(request)


@workspace_page(Perm.MANAGE_CONSENT)
@require_POST
def publish_wording(request: HttpRequest) -> HttpResponse:
    me = membership(request)
    form = WordingForm(request.POST)
    if form.is_valid():
        try:
            actions.publish_wording(
                me.workspace_id,
                text=form.cleaned_data["text"],
                business_name=form.cleaned_data["business_name"],
                purposes=form.cleaned_data["purposes"],
                actor=Actor.user(me.user_id),
                user_id=me.user_id,
                origin=origin_of(request),
            )
            return redirect("consent:home", me.workspace.slug)
        except ConsentError as error:
            form.add_error(None, error.message)
    return _page(request, status=400, wording_form=form)


def _settings_form(workspace_id: int) -> SettingsForm:
    current = actions.settings_for(workspace_id)
    return SettingsForm(
        initial={
            "double_opt_in": current.double_opt_in,
            "confirmation_template": current.confirmation_template,
            "confirmation_language": current.confirmation_language,
            "keyword_languages": current.keyword_languages,
            "opt_out_keywords": ", ".join(current.opt_out_keywords),
            "resubscribe_keywords": ", ".join(current.resubscribe_keywords),
            "opt_out_reply": current.opt_out_reply,
        }
    )


@workspace_page(Perm.MANAGE_CONSENT)
@require_POST
def change_settings(request: HttpRequest) -> HttpResponse:
    me = membership(request)
    form = SettingsForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        words = _words(data["opt_out_keywords"]) + _words(data["resubscribe_keywords"])
        if any(" " in word for word in words):
            form.add_error(None, "Keywords are single words.")
        else:
            try:
                actions.update_settings(
                    me.workspace_id,
                    actor=Actor.user(me.user_id),
                    double_opt_in=data["double_opt_in"],
                    confirmation_template=data["confirmation_template"],
                    confirmation_language=data["confirmation_language"],
                    keyword_languages=data["keyword_languages"],
                    opt_out_keywords=_words(data["opt_out_keywords"]),
                    resubscribe_keywords=_words(data["resubscribe_keywords"]),
                    opt_out_reply=data["opt_out_reply"].strip() or None,
                    origin=origin_of(request),
                )
                return redirect("consent:home", me.workspace.slug)
            except ConsentError as error:
                form.add_error(None, error.message)
    return _page(request, status=400, settings_form=form)


@workspace_page(Perm.REPLY_INBOX)
@require_POST
def resolve_review(request: HttpRequest, consent_review_id: int) -> HttpResponse:
    """An agent reads the flagged message in the inbox, then records whether it was an opt-out."""
    me = membership(request)
    try:
        actions.resolve_review(
            me.workspace_id,
            consent_review_id,
            user_id=me.user_id,
            revoke=request.POST.get("decision") == "revoke",
            origin=origin_of(request),
        )
    except ConsentError:
        raise Http404("No such review item") from None
    return redirect("consent:home", me.workspace.slug)


@workspace_page(Perm.MANAGE_CONSENT)
@require_POST
def import_csv(request: HttpRequest) -> HttpResponse:
    me = membership(request)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, status=400, import_form=form)
    upload = form.cleaned_data["file"]
    if upload.size > imports.MAX_BYTES:
        form.add_error("file", "The file is larger than 10 MB.")
        return _page(request, status=400, import_form=form)
    report = imports.import_consents(
        me.workspace_id, upload.read(), actor=Actor.user(me.user_id), origin=origin_of(request)
    )
    return _page(request, report=report, counts={k: report.count(k) for k in imports.OUTCOMES})


# --- the ledger: every event of the workspace, newest first, with its proof ---------------------------

LEDGER_PAGE = 50
MAX_EXPORT_ROWS = 100_000


class LedgerFilterForm(forms.Form):
    purpose = forms.ChoiceField(required=False, choices=[("", "Any purpose"), *Purpose.choices])
    source = forms.ChoiceField(required=False, choices=[("", "Any source"), *Source.choices])
    state = forms.ChoiceField(
        required=False,
        label="State after the change",
        choices=[("", "Any state"), (Status.ACTIVE, "active"), (Status.PENDING, "pending"),
                 (Status.REVOKED, "revoked")],
    )  # fmt: skip
    contact = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def ledger_filter(self) -> queries.LedgerFilter:
        data = self.cleaned_data
        contact = data.get("contact")
        return queries.LedgerFilter(
            purpose=data.get("purpose") or "",
            source=data.get("source") or "",
            state=data.get("state") or "",
            contact_ids=None if contact is None else (contact,),
        )

    def query(self, **override: Any) -> str:
        """The filters as a query string (ids and choices only: never a phone number)."""
        values = {k: v for k, v in self.cleaned_data.items() if v not in (None, "") and k != "before"}
        values.update({k: v for k, v in override.items() if v is not None})
        return urlencode(values)


class PhoneLookupForm(forms.Form):
    phone = forms.CharField(
        max_length=32,
        label="Exact WhatsApp number",
        help_text="International format, e.g. +44 7700 900123. Found through the blind index; it never "
        "appears in the address bar.",
    )


@workspace_page(Perm.READ_CONSENT)
@require_http_methods(["GET", "POST"])
def ledger(request: HttpRequest) -> HttpResponse:
    """GET: the filtered page. POST: a phone number, turned into its contact id and redirected to GET,
    so the number never lands in a URL, a log line or the browser history."""
    me = membership(request)
    if request.method == "POST":
        lookup = PhoneLookupForm(request.POST)
        if lookup.is_valid():
            found = contacts_by_number(me.workspace_id, lookup.cleaned_data["phone"])
            if found:
                query = urlencode({"contact": found[0].pk})
                return redirect(f"{reverse('consent:ledger', args=[me.workspace.slug])}?{query}")
            lookup.add_error("phone", "No contact in this workspace has this number.")
        return _ledger_page(request, LedgerFilterForm({}), lookup, status=400)
    return _ledger_page(request, LedgerFilterForm(request.GET), PhoneLookupForm())


def _ledger_page(
    request: HttpRequest, form: LedgerFilterForm, lookup: PhoneLookupForm, *, status: int = 200
) -> HttpResponse:
    me = membership(request)
    if not form.is_valid():
        return render(
            request, "consent/ledger.html", {"form": form, "lookup": lookup, "rows": []}, status=400
        )
    events, next_before = queries.ledger_page(
        me.workspace_id, form.ledger_filter(), limit=LEDGER_PAGE, before=form.cleaned_data["before"]
    )
    user = request.user
    assert isinstance(user, User)
    rows = proof_rows(user, me, events, origin=origin_of(request), purpose="consent_ledger")
    context = {
        "form": form,
        "lookup": lookup,
        "rows": rows,
        "contact_filter": form.cleaned_data["contact"],
        "next_query": form.query(before=next_before) if next_before else "",
        "export_query": form.query(),
        "first_page": form.cleaned_data["before"] is None,
        "can_export": role_allows(me.role, Perm.READ_AUDIT),
    }
    return render(request, "consent/ledger.html", context, status=status)


EXPORT_COLUMNS = [
    "event_id", "change_id", "contact_id", "purpose", "change", "state_after", "source", "capture_method",
    "captured_by_kind", "captured_by_id", "occurred_at_utc", "recorded_at_utc", "wording_version",
    "wording_sha256", "business_name", "wording_text", "ip", "user_agent", "keyword", "error_code",
    "evidence_wamid", "evidence_message_id",
]  # fmt: skip


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a leading apostrophe."""
    text = "" if value is None or value is ERASED else str(value)
    return f"'{text}" if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def _export_row(event: ConsentEvent) -> list[str]:
    wording = event.wording
    values: list[object] = [
        event.pk, event.change_id, event.contact_id, event.purpose, event.kind,
        STATUS_AFTER[Kind(event.kind)], event.source, event.capture_method, event.captured_by_kind,
        event.captured_by_id,
        event.occurred_at.isoformat(), event.recorded_at.isoformat(),
        wording.version if wording else "", wording.sha256 if wording else "",
        wording.business_name if wording else "", wording.text if wording else "",
        _opened(event, "ip"), _opened(event, "user_agent"), event.keyword, event.error_code,
        event.evidence_wamid, event.evidence_message_id,
    ]  # fmt: skip
    return [_cell(value) for value in values]


def _opened(event: ConsentEvent, field: str) -> object:
    from chatrk.crypto.errors import SubjectShredded

    try:
        return open_for_system(event, field)  # the export's own audit event records this read
    except SubjectShredded:
        return ERASED


class _Echo:
    def write(self, value: str) -> str:
        return value


@workspace_page(Perm.READ_AUDIT)
@require_GET
def export_ledger(request: HttpRequest) -> HttpResponseBase:
    """The filtered ledger as CSV with every proof field (IP address and user agent decrypted): one
    audit event names who exported how many rows with which filters."""
    me = membership(request)
    form = LedgerFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "consent/ledger.html", {"form": form, "lookup": PhoneLookupForm()}, status=400)
    where = form.ledger_filter()
    rows = queries.ledger_rows(me.workspace_id, where)
    count = rows.count()
    if count > MAX_EXPORT_ROWS:
        message = f"{count} events match: narrow the filters to at most {MAX_EXPORT_ROWS} per export."
        context = {"form": form, "lookup": PhoneLookupForm(), "rows": [], "export_error": message}
        return render(request, "consent/ledger.html", context, status=400)
    with transaction.atomic():
        record("consent.ledger.exported", actor=Actor.user(me.user_id), workspace_id=me.workspace_id,
               origin=origin_of(request), details={
                   "rows": count, "fields": "all,ip,user_agent", "purpose": where.purpose,
                   "source": where.source, "state": where.state,
                   "contact_id": where.contact_ids[0] if where.contact_ids else None,
               })  # fmt: skip
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(EXPORT_COLUMNS)
        for event in rows.iterator(chunk_size=2000):
            yield writer.writerow(_export_row(event))

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="consent-ledger-{me.workspace.slug}.csv"'
    response["Cache-Control"] = "no-store"
    return response
