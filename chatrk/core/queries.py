"""Tenant-scoped readers for workspaces and members."""

from __future__ import annotations

from django.db.models import QuerySet

from chatrk.core.clock import now
from chatrk.core.models import Invitation, Membership


def membership_of(user_id: int, workspace_slug: str) -> Membership | None:
    return (
        Membership.objects.select_related("workspace", "user")
        .filter(user_id=user_id, workspace__slug=workspace_slug, user__is_active=True)
        .first()
    )


def memberships_of(user_id: int) -> QuerySet[Membership]:
    return Membership.objects.select_related("workspace").filter(user_id=user_id).order_by("workspace__name")


def members(workspace_id: int) -> QuerySet[Membership]:
    return Membership.objects.for_workspace(workspace_id).select_related("user").order_by("user__name", "pk")


def open_invitations(workspace_id: int) -> QuerySet[Invitation]:
    return Invitation.objects.for_workspace(workspace_id).filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now()
    )
