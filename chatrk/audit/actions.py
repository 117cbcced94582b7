"""``record``: the one way any part of Chatrk writes an audit event.

Call it inside the action's transaction so the event commits or rolls back with the change it
describes. Free text never goes in: identifiers, enums and HMACs only.

Sequencing. Each event is the next leaf of the Merkle tree, and its ``seq`` is that leaf's index.
``record`` takes the log's append lock — ``pg_advisory_xact_lock`` on PostgreSQL; on SQLite every
transaction is ``BEGIN IMMEDIATE`` and already holds the database's single write lock — then reads
the last ``seq`` and inserts the next one. The lock is held until the caller's transaction ends, so:

* a transaction that rolls back releases its ``seq`` for the next writer: no holes in the tree;
* committed events always form a gap-free prefix 0..n-1, so a checkpoint can sign ``n`` at once;
* only transactions that write audit events wait for each other, and only from their ``record``
  call to their commit; writes that are not audited never touch the lock. Callers keep that window
  short by doing slow work (network, hashing passwords) before ``record`` or in ``on_commit``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, router, transaction
from django.db.utils import NotSupportedError

from chatrk.audit import checkpoints
from chatrk.audit.entries import ENTRY_COLUMNS, row_leaf_hash
from chatrk.audit.models import AuditEvent, Outcome
from chatrk.core.clock import now

type Detail = str | int | bool | None

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the audit log's append lock ("chatrk" in ASCII, then 1).
APPEND_LOCK_KEY = 0x63686174726B_01


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
    # savepoint=False: join the caller's transaction (the lock must live as long as it does);
    # without one, this block is the transaction.
    with transaction.atomic(savepoint=False):
        seq = _take_next_seq()
        event = AuditEvent(
            seq=seq,
            occurred_at=now(),  # read under the lock, so times never run backwards along the log
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
            details=dict(details or {}),
        )
        event.leaf_hash = row_leaf_hash(tuple(getattr(event, column) for column in ENTRY_COLUMNS))
        event.save(force_insert=True)
        if (seq + 1) % settings.AUDIT_CHECKPOINT_EVERY == 0:
            transaction.on_commit(_publish_checkpoint_after_commit)
    return event


def _take_next_seq() -> int:
    connection = connections[router.db_for_write(AuditEvent)]
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY])
        elif connection.vendor != "sqlite":
            raise NotSupportedError("the audit log's append lock needs SQLite or PostgreSQL")
        cursor.execute(f"SELECT MAX(seq) FROM {table}")  # noqa: S608 - the table name is ours
        row = cursor.fetchone()
    last = row[0] if row else None
    return 0 if last is None else int(last) + 1


def _publish_checkpoint_after_commit() -> None:
    # The event is committed whatever happens here; a failed checkpoint is retried by the periodic
    # task or `chatrk audit checkpoint`, so it is logged rather than raised into the caller.
    try:
        checkpoints.publish_checkpoint()
    except Exception:
        logger.exception("audit checkpoint could not be published; it will be retried")
