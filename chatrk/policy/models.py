"""Policy rows: a workspace's tuning, the review queue, and the counters behind the spam signals.

No message text is stored in clear: held text is encrypted under the workspace key (and cleared once a
reviewer decides), and the spam counters key messages by an HMAC of their normalised body.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from chatrk.core.ids import new_id
from chatrk.core.models import TenantModel
from chatrk.crypto.fields import EncryptedTextField, EncryptionScope


class PolicySettings(TenantModel):
    """A workspace's tuning; validated against the floors in ``chatrk.policy.tuning``."""

    hold_at = models.JSONField(default=dict)  # {category: points}: only lower than the defaults
    block_at = models.JSONField(default=dict)
    extra_terms = models.JSONField(default=list)  # [{"term", "category", "action"}]: business keywords
    blocked_domains = models.JSONField(default=list)
    allowed_domains = models.JSONField(default=list)
    same_body_limit = models.PositiveIntegerField(default=20)
    hourly_limit = models.PositiveIntegerField(default=1_000)
    max_links = models.PositiveIntegerField(default=3)
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace"], name="one_policy_settings_per_workspace")
        ]

    def __str__(self) -> str:
        return f"policy settings of {self.workspace_id}"


class HeldKind(models.TextChoices):
    MESSAGE = "message", "Free-form message"
    CAMPAIGN = "campaign", "Campaign message"
    TEMPLATE = "template", "Template"


class HeldStatus(models.TextChoices):
    HELD = "held", "Waiting for review"
    RELEASED = "released", "Released"
    REJECTED = "rejected", "Rejected"


class HeldItem(TenantModel):
    """Something the engine held: it is not sent (or submitted to Meta) until a reviewer releases it."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    kind = models.CharField(max_length=16, choices=HeldKind.choices)
    ref_id = models.BigIntegerField()  # the outbox row, campaign message or template, in its own app
    contact_id = models.BigIntegerField(null=True, blank=True)  # whose message it is, for erasure
    category = models.CharField(max_length=24)
    score = models.IntegerField()
    evidence = models.JSONField(default=list)  # rule ids, offsets and masked notes: no text
    explanation = models.TextField()  # written by the rule packs, never contains the message
    text = EncryptedTextField(null=True)  # cleared when decided or when the contact is erased
    status = models.CharField(max_length=16, choices=HeldStatus.choices, default=HeldStatus.HELD)
    held_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    comment = EncryptedTextField(null=True)  # the reviewer's note: free text, so encrypted

    encryption = EncryptionScope()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "kind", "ref_id"],
                condition=models.Q(status="held"),
                name="one_open_hold_per_item",
            )
        ]
        indexes = [models.Index(fields=["workspace", "status", "-held_at"], name="held_queue")]

    def __str__(self) -> str:
        return f"held {self.kind} {self.ref_id}"

    @property
    def category_label(self) -> str:
        from chatrk.policy.engine import Category

        try:
            return Category(self.category).label
        except ValueError:
            return self.category


class BodyVolume(TenantModel):
    """How many recipients got one normalised body in one hour (keyed by HMAC, never the body)."""

    body_hmac = models.CharField(max_length=64)
    hour = models.DateTimeField()
    recipients = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "body_hmac", "hour"], name="one_volume_per_body_hour"
            )
        ]
        indexes = [models.Index(fields=["workspace", "hour"], name="volume_by_hour")]

    def __str__(self) -> str:
        return f"{self.body_hmac[:8]}@{self.hour:%Y-%m-%dT%H}"
