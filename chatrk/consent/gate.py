"""The consent gate every send passes: fast, read-only, and fail closed.

``check_consent`` answers one send; ``check_consent_many`` answers a campaign's batch with one query per
chunk. Any failure to read consent (database error, unknown category, bad input) is a refusal whose
reason says so: nothing is sent on a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from django.db import connection

from chatrk.consent.models import ConsentState, Purpose, Status

log = logging.getLogger(__name__)


class Category(StrEnum):
    """The category of a send: a template's category, or ``service`` for a free-form reply."""

    MARKETING = "marketing"
    UTILITY = "utility"
    AUTHENTICATION = "authentication"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    allowed: bool
    reason: str  # a stable phrase, shown to people and stored on refused sends; never personal data


ALLOWED = ConsentDecision(True, "consent active")
ALLOWED_SERVICE = ConsentDecision(True, "reply inside the 24-hour customer-service window")
_WINDOW_CLOSED = ConsentDecision(False, "outside the 24-hour window: only an approved template may be sent")
_HELD = ConsentDecision(False, "the customer opted out by keyword: replies resume only when they write again")
_REFUSALS: dict[str, ConsentDecision] = {
    Status.NONE: ConsentDecision(False, "no {purpose} consent recorded"),
    Status.PENDING: ConsentDecision(False, "{purpose} consent awaits the customer's YES (double opt-in)"),
    Status.REVOKED: ConsentDecision(False, "{purpose} consent revoked"),
}

_TABLE = ConsentState._meta.db_table
_ONE = f"SELECT status FROM {_TABLE} WHERE workspace_id = %s AND contact_id = %s AND purpose = %s"  # noqa: S608
_CHUNK = 500


def _refusal(status: str, purpose: str) -> ConsentDecision:
    template = _REFUSALS.get(status)
    if template is None:
        return ConsentDecision(False, "consent state unreadable")
    return ConsentDecision(False, template.reason.format(purpose=purpose))


def _decide(category: Category, status: str | None, *, window_open: bool) -> ConsentDecision:
    if category is Category.SERVICE:
        if not window_open:
            return _WINDOW_CLOSED
        return _HELD if status == Status.REVOKED else ALLOWED_SERVICE
    if status == Status.ACTIVE:
        return ALLOWED
    return _refusal(status or Status.NONE, category.value)


def _category(value: str) -> Category:
    return Category(value)  # ValueError for an unknown category: refused by the callers


def check_consent(workspace_id: int, contact_id: int, category: str, *, window_open: bool) -> ConsentDecision:
    """May this send go out? marketing / utility / authentication need that purpose's active consent;
    ``service`` (a free-form reply) needs the open window and no keyword opt-out since the customer's
    last message. Never raises: an error is a refusal with the reason recorded in the decision."""
    try:
        kind = _category(category)
        with connection.cursor() as cursor:
            cursor.execute(_ONE, [int(workspace_id), int(contact_id), Purpose(kind.value).value])
            row = cursor.fetchone()
        return _decide(kind, None if row is None else str(row[0]), window_open=window_open)
    except Exception as error:
        log.warning("consent gate refused: %s (workspace %s)", type(error).__name__, workspace_id)
        return ConsentDecision(False, f"consent could not be checked ({type(error).__name__})")


def check_consent_many(
    workspace_id: int, contact_ids: Iterable[int], category: str, *, window_open: bool = False
) -> dict[int, ConsentDecision]:
    """The gate for a batch (a campaign's recipients): one query per 500 contacts. Every id asked for
    has an answer; on error, every one of them is refused."""
    ids: Sequence[int] = list(dict.fromkeys(int(i) for i in contact_ids))
    try:
        kind = _category(category)
        found: dict[int, str] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            sql = (
                f"SELECT contact_id, status FROM {_TABLE} "  # noqa: S608 - only placeholders are interpolated
                f"WHERE workspace_id = %s AND purpose = %s AND contact_id IN ({marks})"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, [int(workspace_id), kind.value, *chunk])
                found.update((int(c), str(s)) for c, s in cursor.fetchall())
        return {i: _decide(kind, found.get(i), window_open=window_open) for i in ids}
    except Exception as error:
        log.warning("consent gate refused a batch: %s (workspace %s)", type(error).__name__, workspace_id)
        refused = ConsentDecision(False, f"consent could not be checked ({type(error).__name__})")
        return dict.fromkeys(ids, refused)
