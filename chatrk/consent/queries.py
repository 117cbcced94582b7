"""Tenant-scoped readers of the consent ledger."""

from __future__ import annotations

from django.db.models import QuerySet

from chatrk.consent.models import (
    CONSENT_PURPOSES,
    ConsentEvent,
    ConsentState,
    ConsentWording,
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
