"""Tenant-scoped readers of the consent ledger."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from chatrk.consent.models import (
    CONSENT_PURPOSES,
    ConsentEvent,
    ConsentState,
    ConsentWording,
    Kind,
    Purpose,
    ReviewItem,
    Status,
)


def states(workspace_id: int, contact_id: int) -> dict[str, str]:
    """Status per purpose (every purpose listed; ``none`` where nothing was ever recorded)."""
    found = dict(
        ConsentState.objects.filter(workspace_id=workspace_id, contact_id=contact_id).values_list(
            "purpose", "status"
        )
    )
    return {p.value: found.get(p.value, Status.NONE.value) for p in (*CONSENT_PURPOSES, Purpose.SERVICE)}


def history(workspace_id: int, contact_id: int) -> QuerySet[ConsentEvent]:
    """Every event for the contact, oldest first (ids are time-ordered)."""
    return (
        ConsentEvent.objects.filter(workspace_id=workspace_id, contact_id=contact_id)
        .select_related("wording")
        .order_by("id")
    )


def wordings(workspace_id: int) -> QuerySet[ConsentWording]:
    return ConsentWording.objects.filter(workspace_id=workspace_id).order_by("-version")


def current_wording(workspace_id: int) -> ConsentWording | None:
    return wordings(workspace_id).first()


def wording_by_version(workspace_id: int, version: int) -> ConsentWording | None:
    return ConsentWording.objects.filter(workspace_id=workspace_id, version=version).first()


def open_reviews(workspace_id: int) -> QuerySet[ReviewItem]:
    return ReviewItem.objects.filter(workspace_id=workspace_id, outcome=ReviewItem.Outcome.OPEN).order_by(
        "created_at"
    )


# The state an event leaves its purpose in, for filtering the ledger by it.
KINDS_BY_STATE: dict[str, tuple[str, ...]] = {
    Status.ACTIVE: (Kind.GRANT, Kind.CONFIRM, Kind.RESTORE),
    Status.PENDING: (Kind.PENDING,),
    Status.REVOKED: (Kind.REVOKE,),
}


@dataclass(frozen=True, slots=True)
class LedgerFilter:
    purpose: str = ""
    source: str = ""
    state: str = ""  # a key of KINDS_BY_STATE
    contact_ids: tuple[int, ...] | None = None  # None: every contact; (): nobody (an unknown number)


def ledger_rows(workspace_id: int, where: LedgerFilter) -> QuerySet[ConsentEvent]:
    """The workspace's events matching ``where``, newest first (ids are time-ordered)."""
    rows = ConsentEvent.objects.filter(workspace_id=workspace_id).select_related("wording")
    if where.purpose:
        rows = rows.filter(purpose=where.purpose)
    if where.source:
        rows = rows.filter(source=where.source)
    if where.state:
        rows = rows.filter(kind__in=KINDS_BY_STATE.get(where.state, ()))
    if where.contact_ids is not None:
        rows = rows.filter(contact_id__in=where.contact_ids)
    return rows.order_by("-id")


def ledger_page(
    workspace_id: int, where: LedgerFilter, *, limit: int, before: int | None = None
) -> tuple[list[ConsentEvent], int | None]:
    """One keyset page: events older than ``before`` (an event id), and the id to continue from."""
    rows = ledger_rows(workspace_id, where)
    if before is not None:
        rows = rows.filter(id__lt=before)
    found = list(rows[: limit + 1])
    if len(found) <= limit:
        return found, None
    return found[:limit], found[limit - 1].pk
