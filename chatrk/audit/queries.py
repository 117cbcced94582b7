"""Tenant-scoped readers of the audit log for auditors and compliance officers."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from chatrk.audit.actions import Actor
from chatrk.audit.models import AuditEvent


def workspace_events(
    workspace_id: int,
    *,
    action: str | None = None,
    actor: Actor | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Events of one workspace, newest first; ``since`` is inclusive and ``until`` exclusive."""
    events = AuditEvent.objects.filter(workspace_id=workspace_id)
    if action is not None:
        events = events.filter(action=action)
    if actor is not None:
        events = events.filter(actor_kind=actor.kind, actor_id=actor.id)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    return events.order_by("-seq")


def workspace_event(workspace_id: int, seq: int) -> AuditEvent | None:
    """One event by seq, only if it belongs to the workspace (another tenant's is never revealed)."""
    return AuditEvent.objects.filter(workspace_id=workspace_id, seq=seq).first()
