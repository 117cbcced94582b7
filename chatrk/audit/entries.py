"""The leaf entry of an event: what exactly is hashed into the Merkle tree.

Every column of ``AuditEvent`` except ``leaf_hash`` goes in, ``seq`` included, so editing,
renumbering or moving an event changes its leaf. Times are UTC with microseconds and a ``Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chatrk.audit.canonical import Canonical, canonical_json
from chatrk.audit.merkle import leaf_hash

ENTRY_VERSION = 1

# The columns an entry is made of, in the order ``values_list`` returns them to the verifier.
ENTRY_COLUMNS = (
    "seq", "occurred_at", "workspace_id", "actor_kind", "actor_id", "action", "target_kind", "target_id",
    "outcome", "reason", "ip_hmac", "user_agent_hmac", "details",
)  # fmt: skip


def utc_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_from_row(row: tuple[Any, ...]) -> dict[str, Canonical]:
    """The entry of one event given its ``ENTRY_COLUMNS`` values."""
    (seq, occurred_at, workspace_id, actor_kind, actor_id, action, target_kind, target_id,
     outcome, reason, ip_hmac, user_agent_hmac, details) = row  # fmt: skip
    return {
        "v": ENTRY_VERSION,
        "seq": seq,
        "time": utc_timestamp(occurred_at),
        "workspace": workspace_id,
        "actor": {"kind": actor_kind, "id": actor_id},
        "action": action,
        "target": {"kind": target_kind, "id": target_id},
        "outcome": outcome,
        "reason": reason,
        "origin": {"ip_hmac": ip_hmac, "user_agent_hmac": user_agent_hmac},
        "details": details,
    }


def entry_bytes(row: tuple[Any, ...]) -> bytes:
    return canonical_json(entry_from_row(row))


def row_leaf_hash(row: tuple[Any, ...]) -> bytes:
    return leaf_hash(entry_bytes(row))
