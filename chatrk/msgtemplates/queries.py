"""Tenant-scoped readers for templates."""

from __future__ import annotations

from django.db.models import QuerySet

from chatrk.inbox.models import Channel
from chatrk.msgtemplates.models import Template, TemplateVersion


def templates(workspace_id: int) -> QuerySet[Template]:
    return (
        Template.objects.for_workspace(workspace_id)
        .select_related("channel", "created_by", "reviewed_by", "current_version")
        .order_by("name", "language", "pk")
    )


def template(workspace_id: int, template_id: int) -> Template | None:
    found: Template | None = templates(workspace_id).filter(pk=template_id).first()
    return found


def review_queue(workspace_id: int) -> QuerySet[Template]:
    return templates(workspace_id).filter(status=Template.Status.IN_REVIEW).order_by("updated_at", "pk")


def versions(workspace_id: int, template_id: int) -> QuerySet[TemplateVersion]:
    return (
        TemplateVersion.objects.for_workspace(workspace_id)
        .filter(template_id=template_id)
        .select_related("created_by")
        .order_by("-number")
    )


def channels(workspace_id: int) -> QuerySet[Channel]:
    return Channel.objects.for_workspace(workspace_id).order_by("name", "pk")


def channel(workspace_id: int, channel_id: int) -> Channel | None:
    found: Channel | None = channels(workspace_id).filter(pk=channel_id).first()
    return found
