"""Consent over the REST API (transport only): read state and history, record and revoke with proof,
import CSV, publish wordings. Scopes: ``consent:read`` and ``consent:write``."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError

from chatrk.accounts.actions import origin_of
from chatrk.accounts.scopes import Scope
from chatrk.api.auth import require_scope
from chatrk.api.schemas import Id, IdIn
from chatrk.audit.actions import Actor
from chatrk.consent import actions, imports, queries
from chatrk.consent.errors import ConsentError
from chatrk.consent.models import Source
from chatrk.inbox.actions import contact_for
from chatrk.inbox.models import Contact

router = Router(tags=["consent"])


class Error(Schema):
    detail: str


class EventOut(Schema):
    id: Id
    purpose: str
    kind: str
    source: str
    change_id: Id
    wording_version: int | None
    wording_sha256: str
    business_name: str
    captured_by_kind: str
    captured_by_id: str
    capture_method: str
    occurred_at: datetime
    recorded_at: datetime
    keyword: str
    error_code: int | None
    evidence_wamid: str
    evidence_message_id: Id | None


class ContactConsentOut(Schema):
    contact_id: Id
    states: dict[str, str]
    history: list[EventOut]


class ConsentIn(Schema):
    """Name the person by ``contact_id`` or by ``phone`` (E.164; the contact is found or created)."""

    contact_id: IdIn | None = None
    phone: str | None = None
    purposes: list[str]
    wording_version: int
    captured_at: datetime | None = None
    capture_method: str = "other"
    ip: str = ""  # the person's, at capture (stored encrypted)
    user_agent: str = ""
    evidence: str = ""  # your own reference, stored encrypted


class RevokeIn(Schema):
    contact_id: IdIn | None = None
    phone: str | None = None
    purposes: list[str]


class ChangeOut(Schema):
    contact_id: Id
    change_id: Id
    changed: list[str]
    states: dict[str, str]


class ImportIn(Schema):
    csv: str


class RowOut(Schema):
    line: int
    outcome: str
    reason: str
    contact_id: Id | None


class ImportOut(Schema):
    error: str
    imported: int
    pending: int
    skipped: int
    rejected: int
    rows: list[RowOut]


class WordingIn(Schema):
    text: str
    business_name: str
    purposes: list[str]


class WordingOut(Schema):
    version: int
    sha256: str
    business_name: str
    purposes: list[str]
    text: str
    created_at: datetime


def _event_out(event: object) -> EventOut:
    from chatrk.consent.models import ConsentEvent

    assert isinstance(event, ConsentEvent)
    wording = event.wording
    return EventOut(
        id=event.pk,
        purpose=event.purpose,
        kind=event.kind,
        source=event.source,
        change_id=event.change_id,
        wording_version=wording.version if wording else None,
        wording_sha256=wording.sha256 if wording else "",
        business_name=wording.business_name if wording else "",
        captured_by_kind=event.captured_by_kind,
        captured_by_id=event.captured_by_id,
        capture_method=event.capture_method,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        keyword=event.keyword,
        error_code=event.error_code,
        evidence_wamid=event.evidence_wamid,
        evidence_message_id=event.evidence_message_id,
    )


def _contact(workspace_id: int, contact_id: int | None, phone: str | None) -> int:
    if contact_id is not None:
        if not Contact.objects.filter(workspace_id=workspace_id, pk=contact_id).exists():
            raise HttpError(404, "No such contact.")
        return contact_id
    if not phone:
        raise HttpError(400, "Give contact_id or phone.")
    try:
        number = imports.e164(phone)
    except imports.RowRejected as error:
        raise HttpError(400, str(error)) from None
    return contact_for(workspace_id, number.removeprefix("+")).pk


@router.get("/contacts/{contact_id}", response={200: ContactConsentOut, 401: Error, 403: Error, 404: Error})
def get_contact_consent(request: HttpRequest, contact_id: IdIn) -> ContactConsentOut:
    token = require_scope(request, Scope.CONSENT_READ)
    if not Contact.objects.filter(workspace_id=token.workspace_id, pk=contact_id).exists():
        raise HttpError(404, "No such contact.")
    return ContactConsentOut(
        contact_id=contact_id,
        states=queries.states(token.workspace_id, contact_id),
        history=[_event_out(e) for e in queries.history(token.workspace_id, contact_id)],
    )


@router.post("/grants", response={200: ChangeOut, 400: Error, 401: Error, 403: Error, 404: Error})
def record_consent(request: HttpRequest, payload: ConsentIn) -> ChangeOut:
    """Records consent with its proof; with double opt-in on, it stays pending until the YES reply."""
    token = require_scope(request, Scope.CONSENT_WRITE)
    workspace_id = token.workspace_id
    wording = queries.wording_by_version(workspace_id, payload.wording_version)
    if wording is None:
        raise HttpError(400, "Unknown wording version.")
    contact_id = _contact(workspace_id, payload.contact_id, payload.phone)
    proof = actions.Proof(
        source=Source.API,
        captured_by=Actor.token(token.pk),
        occurred_at=payload.captured_at,
        wording_id=wording.pk,
        capture_method=payload.capture_method,
        ip=payload.ip,
        user_agent=payload.user_agent,
        evidence_ref=payload.evidence,
    )
    try:
        change = actions.record_consent(workspace_id, contact_id, payload.purposes, proof)
    except ConsentError as error:
        raise HttpError(400, error.message) from None
    return ChangeOut(
        contact_id=contact_id,
        change_id=change.change_id,
        changed=list(change.purposes),
        states=queries.states(workspace_id, contact_id),
    )


@router.post("/revocations", response={200: ChangeOut, 400: Error, 401: Error, 403: Error, 404: Error})
def revoke_consent(request: HttpRequest, payload: RevokeIn) -> ChangeOut:
    token = require_scope(request, Scope.CONSENT_WRITE)
    workspace_id = token.workspace_id
    contact_id = _contact(workspace_id, payload.contact_id, payload.phone)
    proof = actions.Proof(source=Source.API, captured_by=Actor.token(token.pk))
    try:
        change = actions.revoke_consent(workspace_id, contact_id, payload.purposes, proof)
    except ConsentError as error:
        raise HttpError(400, error.message) from None
    return ChangeOut(
        contact_id=contact_id,
        change_id=change.change_id,
        changed=list(change.purposes),
        states=queries.states(workspace_id, contact_id),
    )


@router.post("/imports", response={200: ImportOut, 401: Error, 403: Error})
def import_consents(request: HttpRequest, payload: ImportIn) -> ImportOut:
    """CSV with provenance columns; every row is reported (see docs/consent.md)."""
    token = require_scope(request, Scope.CONSENT_WRITE)
    report = imports.import_consents(
        token.workspace_id, payload.csv, actor=Actor.token(token.pk), origin=origin_of(request)
    )
    return ImportOut(
        error=report.error,
        **{k: report.count(k) for k in imports.OUTCOMES},
        rows=[
            RowOut(line=r.line, outcome=r.outcome, reason=r.reason, contact_id=r.contact_id)
            for r in report.rows
        ],
    )


def _wording_out(wording: object) -> WordingOut:
    from chatrk.consent.models import ConsentWording

    assert isinstance(wording, ConsentWording)
    return WordingOut(
        version=wording.version,
        sha256=wording.sha256,
        business_name=wording.business_name,
        purposes=list(wording.purposes),
        text=wording.text,
        created_at=wording.created_at,
    )


@router.get("/wordings", response={200: list[WordingOut], 401: Error, 403: Error})
def list_wordings(request: HttpRequest) -> list[WordingOut]:
    token = require_scope(request, Scope.CONSENT_READ)
    return [_wording_out(w) for w in queries.wordings(token.workspace_id)]


@router.post("/wordings", response={200: WordingOut, 400: Error, 401: Error, 403: Error})
def publish_wording(request: HttpRequest, payload: WordingIn) -> WordingOut:
    token = require_scope(request, Scope.CONSENT_WRITE)
    try:
        wording = actions.publish_wording(
            token.workspace_id,
            text=payload.text,
            business_name=payload.business_name,
            purposes=payload.purposes,
            actor=Actor.token(token.pk),
            origin=origin_of(request),
        )
    except ConsentError as error:
        raise HttpError(400, error.message) from None
    return _wording_out(wording)
