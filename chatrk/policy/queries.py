"""Tenant-scoped readers for the policy app."""

from __future__ import annotations

from types import MappingProxyType

from django.db.models import QuerySet

from chatrk.policy.engine import DEFAULT_TUNING, Action, Category, ExtraTerm, Tuning
from chatrk.policy.models import HeldItem, HeldKind, HeldStatus, PolicySettings


def settings_of(workspace_id: int) -> PolicySettings | None:
    found: PolicySettings | None = PolicySettings.objects.for_workspace(workspace_id).first()
    return found


def tuning_for(workspace_id: int) -> Tuning:
    """The workspace's tuning, defaults filled in. Stored values were validated on save."""
    row = settings_of(workspace_id)
    if row is None:
        return DEFAULT_TUNING
    hold = dict(DEFAULT_TUNING.hold_at)
    block = dict(DEFAULT_TUNING.block_at)
    # min(): even a row edited behind the app's back cannot loosen a floor.
    for key, value in row.hold_at.items():
        hold[Category(key)] = min(int(value), hold[Category(key)])
    for key, value in row.block_at.items():
        block[Category(key)] = min(int(value), block[Category(key)])
    return Tuning(
        hold_at=MappingProxyType(hold),
        block_at=MappingProxyType(block),
        extra_terms=tuple(
            ExtraTerm(t["term"], Category(t["category"]), Action(t["action"])) for t in row.extra_terms
        ),
        blocked_domains=frozenset(row.blocked_domains),
        allowed_domains=frozenset(row.allowed_domains),
        same_body_limit=min(row.same_body_limit, DEFAULT_TUNING.same_body_limit),
        hourly_limit=min(row.hourly_limit, DEFAULT_TUNING.hourly_limit),
        max_links=min(row.max_links, DEFAULT_TUNING.max_links),
    )


def held_items(workspace_id: int, status: str | None = HeldStatus.HELD) -> QuerySet[HeldItem]:
    items: QuerySet[HeldItem] = HeldItem.objects.for_workspace(workspace_id)
    if status:
        items = items.filter(status=status)
    return items.select_related("decided_by").order_by("-held_at", "-id")


def held_item(workspace_id: int, item_id: int) -> HeldItem | None:
    found: HeldItem | None = (
        HeldItem.objects.for_workspace(workspace_id).select_related("decided_by").filter(pk=item_id).first()
    )
    return found


def review_status(workspace_id: int, kind: HeldKind, ref_id: int) -> HeldStatus | None:
    """The latest review state of a held message or template; None if it was never held.

    The outbound sender calls this before sending anything it was told was held: only RELEASED sends.
    """
    status: str | None = (
        HeldItem.objects.for_workspace(workspace_id)
        .filter(kind=kind, ref_id=ref_id)
        .order_by("-held_at", "-id")
        .values_list("status", flat=True)
        .first()
    )
    return HeldStatus(status) if status else None
