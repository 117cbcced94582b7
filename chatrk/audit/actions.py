"""``record``: the one way any part of Chatrk writes an audit event.

Call it inside the action's transaction so the event commits or rolls back with the change it
describes. Free text never goes in: identifiers, enums and HMACs only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings

from chatrk.audit.models import AuditEvent, Outcome
from chatrk.core.clock import now

type Detail = str | int | bool | None


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str  # "user", "token", "system" or "anonymous"
    id: str = ""

    @classmethod
    def user(cls, user_id: int) -> Actor:
        return cls("user", str(user_id))

    @classmethod
    def token(cls, token_id: int) -> Actor:
        return cls("token", str(token_id))


SYSTEM = Actor("system")
ANONYMOUS = Actor("anonymous")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from; both values are HMAC'd before storage."""

    ip: str = ""
    user_agent: str = ""


def keyed_hash(value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of a personal value, so investigators can match a known value without storing it."""
    if not value:
        return ""
    key = hashlib.sha256(f"chatrk-audit|{purpose}|{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def record(
    action: str,
    *,
    actor: Actor,
    workspace_id: int | None = None,
    target: tuple[str, int | str] | None = None,
    outcome: Outcome = Outcome.SUCCESS,
    reason: str = "",
    origin: Origin | None = None,
    details: Mapping[str, Detail] | None = None,
) -> AuditEvent:
    origin = origin or Origin()
    target_kind, target_id = target if target else ("", "")
    return AuditEvent.objects.create(
        occurred_at=now(),
        workspace_id=workspace_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action,
        target_kind=target_kind,
        target_id=str(target_id),
        outcome=outcome,
        reason=reason,
        ip_hmac=keyed_hash(origin.ip, purpose="ip"),
        user_agent_hmac=keyed_hash(origin.user_agent, purpose="user-agent"),
        details=dict(details or {}),
    )
