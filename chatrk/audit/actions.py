"""``record``: the one way any part of Chatrk writes an audit event.

Call it inside the action's transaction so the event commits or rolls back with the change it
describes. Free text never goes in: identifiers, enums and HMACs only.

The event is a plain INSERT, with no lock: audited transactions never wait for each other. Its
place in the Merkle tree (``seq`` and ``leaf_hash``) is given after commit by the sequencer
(``sequencer.py``), so a rolled-back event never takes a leaf index and the tree has no holes. An
event recorded in a web request is sequenced by the worker's periodic task instead, within a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, router, transaction
from django.db.models import Field

from chatrk.audit import checkpoints, sequencer
from chatrk.audit.canonical import canonical_json
from chatrk.audit.models import AuditEvent, Outcome
from chatrk.core.clock import now

type Detail = str | int | bool | None

logger = logging.getLogger(__name__)


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
    event = AuditEvent(
        occurred_at=now(),
        workspace_id=workspace_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action,
        target_kind=target_kind,
        target_id=str(target_id),
        outcome=Outcome(outcome).value,
        reason=reason,
        ip_hmac=keyed_hash(origin.ip, purpose="ip"),
        user_agent_hmac=keyed_hash(origin.user_agent, purpose="user-agent"),
        details=_canonical_details(details),
    )
    _insert(event)
    if not sequencer.is_left_to_worker():  # a web request's events wait for the worker's periodic task
        transaction.on_commit(_sequence_after_commit)
    return event


def _insert(event: AuditEvent) -> None:
    """One INSERT … RETURNING id, prepared without the ORM's compiler.

    ``record`` is the hottest write path of the product (every sign-in, send and decrypted read), and
    the compiler cost more than the database round trip; the values still go through each field's
    own conversion, so this is exactly what ``save`` would write.
    """
    connection = connections[router.db_for_write(AuditEvent)]
    fields = _insert_fields()
    params = [field.get_db_prep_save(getattr(event, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), params)
        row = cursor.fetchone()
    if row is None:
        raise DatabaseError("the audit event was not stored")
    event.id = row[0]
    event._state.adding = False
    event._state.db = connection.alias


def _insert_fields() -> list[Field[Any, Any]]:
    return [
        field for field in AuditEvent._meta.concrete_fields if field.attname not in {"id", "seq", "leaf_hash"}
    ]


@cache
def _insert_sql() -> str:
    # Double quotes are the identifier quotes of both SQLite and PostgreSQL.
    columns = ", ".join(f'"{field.column}"' for field in _insert_fields())
    placeholders = ", ".join(["%s"] * len(_insert_fields()))
    table = AuditEvent._meta.db_table
    return f'INSERT INTO "{table}" ({columns}) VALUES ({placeholders}) RETURNING "id"'  # noqa: S608


def _canonical_details(details: Mapping[str, Detail] | None) -> dict[str, Detail]:
    """Refuse, inside the caller's transaction, details the leaf could not hash exactly (fail closed)."""
    checked = dict(details or {})
    canonical_json(checked)
    return checked


def _sequence_after_commit() -> None:
    # The event is committed whatever happens here; sequencing and checkpoints are retried by the
    # periodic task or `chatrk audit checkpoint`, so a failure is logged, never raised into the caller.
    try:
        if sequencer.sequence_soon():
            checkpoints.publish_checkpoint()
    except Exception:
        logger.exception("audit events could not be sequenced or checkpointed; they will be retried")
