"""The audit log: append-only events that hold ids and HMACs, never personal data in clear.

Each event becomes one leaf of an RFC 6962 Merkle tree. ``record`` inserts it with ``seq`` and
``leaf_hash`` empty; the sequencer (``sequencer.py``) then sets both exactly once: ``seq`` is the leaf
index (0, 1, 2, … with no gaps) and ``leaf_hash`` is SHA-256(0x00 ‖ canonical JSON of the event, seq
included) — see ``entries.py``. Checkpoints sign the tree's root at a size. The database refuses
every other UPDATE, and every DELETE and TRUNCATE, on these tables (``guard.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import F
from django.db.models.expressions import Combinable


class Outcome(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def order_by(self, *field_names: str | Combinable) -> AuditEventQuerySet:
        """Ordering by ``seq`` also orders events still waiting for theirs: after (or, with ``-seq``,
        before) the sequenced ones, in arrival order — which is the order they will be sequenced in."""
        expanded: list[str | Combinable] = []
        for name in field_names:
            if name == "seq":
                expanded += [F("seq").asc(nulls_last=True), "id"]
            elif name == "-seq":
                expanded += [F("seq").desc(nulls_first=True), "-id"]
            else:
                expanded.append(name)
        return super().order_by(*expanded)


class AuditEvent(models.Model):
    # Arrival order; rolled-back transactions leave gaps here, never in ``seq``.
    id = models.BigAutoField(primary_key=True)
    # The leaf index, set once by the sequencer after the event's transaction committed.
    seq = models.BigIntegerField(null=True, unique=True)
    occurred_at = models.DateTimeField()
    # A plain integer, not a foreign key: the log outlives what it speaks of.
    workspace_id = models.BigIntegerField(null=True)
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64)
    target_kind = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.CharField(max_length=200, blank=True)
    ip_hmac = models.CharField(max_length=64, blank=True)
    user_agent_hmac = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict)
    leaf_hash = models.BinaryField(max_length=32, null=True)

    objects: ClassVar[Any] = models.Manager.from_queryset(AuditEventQuerySet)()

    class Meta:
        # Few indexes on purpose: the sequencer's update rewrites every index entry of the row.
        indexes = [
            models.Index(fields=["workspace_id", "occurred_at"], name="audit_event_ws_time"),
            # The sequencer's work queue: only events still waiting for their leaf index.
            models.Index(fields=["id"], condition=models.Q(seq__isnull=True), name="audit_event_pending"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq if self.seq is not None else 'pending'} {self.action} {self.outcome}"


class AuditCheckpoint(models.Model):
    """A signed statement of the tree's size and root (a C2SP tlog-checkpoint signed note)."""

    tree_size = models.BigIntegerField(primary_key=True)
    root_hash = models.BinaryField(max_length=32)
    # The compact range at this size, so the next checkpoint extends it without re-reading the log.
    # Verification never trusts it: it recomputes every root from the events.
    frontier = models.BinaryField()
    note = models.TextField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"checkpoint @{self.tree_size}"


# Subtrees of fewer leaves are computed from the leaf hashes: at most two blocks of 256 per proof.
SUBTREE_MIN_LEVEL = 8


class AuditSubtree(models.Model):
    """The root of a perfect subtree: the 2**level leaves from ``start`` (a multiple of 2**level).

    ``publish_checkpoint`` stores one for every subtree of SUBTREE_MIN_LEVEL or more that the leaves
    it re-derives complete, so a proof reads O(log n) of these rows instead of all n leaf hashes.
    Nothing trusts them: a client checks each proof against a signed checkpoint (a wrong row gives a
    proof that fails), and ``chatrk audit verify`` compares every row with the events.
    """

    pk = models.CompositePrimaryKey("level", "start")
    level = models.PositiveSmallIntegerField()
    start = models.BigIntegerField()
    root_hash = models.BinaryField(max_length=32)

    def __str__(self) -> str:
        return f"subtree of {1 << self.level} leaves from {self.start}"


class AuditSigningKey(models.Model):
    """The Ed25519 checkpoint key: the private half sealed under the key-encryption key."""

    name = models.CharField(max_length=200, unique=True)
    public_key = models.BinaryField(max_length=32)
    sealed_private_key = models.BinaryField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"audit signing key {self.name}"
