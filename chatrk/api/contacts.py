"""Contacts: listed a page at a time, fetched, or looked up by phone number (through the blind index).

Their WhatsApp number and profile name are decrypted through ``reveal_for_token``: one audit event per
response, naming the token. The number to look up travels in a POST body, never in a URL.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError

from chatrk.accounts.actions import origin_of
from chatrk.accounts.models import ApiToken
from chatrk.accounts.scopes import Scope
from chatrk.api.auth import require_scope
from chatrk.api.schemas import DEFAULT_PAGE, DENIED, Error, IdIn, page_size
from chatrk.crypto.reveal import ERASED, reveal_for_token
from chatrk.inbox import queries
from chatrk.inbox.models import Contact

router = Router(tags=["contacts"])


class ContactOut(Schema):
    id: str
    wa_id: str | None  # the WhatsApp number, digits with country code; None once erased
    profile_name: str | None
    erased: bool
    blocked: bool
    created_at: datetime


class ContactPage(Schema):
    items: list[ContactOut]
    next_cursor: str | None


class Lookup(Schema):
    phone_number: str


def _shown(value: object) -> str | None:
    return None if value is ERASED or value is None else str(value)


def contacts_out(request: HttpRequest, token: ApiToken, rows: list[Contact]) -> list[ContactOut]:
    if not rows:
        return []
    revealed = reveal_for_token(token, rows, ["wa_id", "profile_name"], origin=origin_of(request))
    return [
        ContactOut(
            id=str(row.pk),
            wa_id=_shown(plain["wa_id"]),
            profile_name=_shown(plain["profile_name"]),
            erased=plain["wa_id"] is ERASED,
            blocked=row.blocked_at is not None,
            created_at=row.created_at,
        )
        for row, plain in zip(rows, revealed, strict=True)
    ]


@router.get("/contacts", response={200: ContactPage, 400: Error, **DENIED})
def list_contacts(request: HttpRequest, limit: int = DEFAULT_PAGE, cursor: str | None = None) -> ContactPage:
    token = require_scope(request, Scope.CONTACTS_READ)
    try:
        page = queries.contacts(token.workspace_id, limit=page_size(limit), cursor=cursor)
    except queries.BadCursor as error:
        raise HttpError(400, str(error)) from None
    return ContactPage(items=contacts_out(request, token, page.rows), next_cursor=page.next_cursor)


@router.post("/contacts/lookup", response={200: ContactPage, **DENIED})
def lookup_contact(request: HttpRequest, body: Lookup) -> ContactPage:
    """Contacts whose WhatsApp number is this one, in any accepted form (with or without "+", spaces)."""
    token = require_scope(request, Scope.CONTACTS_READ)
    found = queries.contacts_by_number(token.workspace_id, body.phone_number[:64])
    return ContactPage(items=contacts_out(request, token, found), next_cursor=None)


@router.get("/contacts/{contact_id}", response={200: ContactOut, 404: Error, **DENIED})
def get_contact(request: HttpRequest, contact_id: IdIn) -> ContactOut:
    token = require_scope(request, Scope.CONTACTS_READ)
    found = queries.contact(token.workspace_id, contact_id)
    if found is None:
        raise HttpError(404, "No such contact.")
    return contacts_out(request, token, [found])[0]
