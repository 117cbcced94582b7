"""The audit log: append-only events that hold ids and HMACs, never personal data in clear."""

from __future__ import annotations

from django.db import models


class Outcome(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class AuditEvent(models.Model):
    seq = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField()
    # A plain integer, not a foreign key: the log outlives what it speaks of.
    workspace_id = models.BigIntegerField(null=True, db_index=True)
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_kind = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.CharField(max_length=200, blank=True)
    ip_hmac = models.CharField(max_length=64, blank=True)
    user_agent_hmac = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome}"
