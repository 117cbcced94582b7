"""The keyring's rows: wrapped data keys, legal holds on subject keys, rotation progress.

Hierarchy: the KEK (outside the database) wraps one WORKSPACE key per version, one INDEX key (the root of
the workspace's blind-index keys) and the SYSTEM key behind ``seal``; the active workspace key wraps one
SUBJECT key per subject (e.g. per contact). Key material is only ever stored wrapped.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from chatrk.core.ids import new_id
from chatrk.core.models import TenantModel, Workspace


class KeyKind(models.TextChoices):
    SYSTEM = "system"
    WORKSPACE = "workspace"
    INDEX = "index"
    SUBJECT = "subject"


class KeyState(models.TextChoices):
    ACTIVE = "active"  # encrypts new data and decrypts
    DECRYPT_ONLY = "decrypt-only"  # superseded by rotation, still readable until rewrapping ends
    DESTROYED = "destroyed"  # material wiped: retired by rotation or crypto-shredded


class DataKey(models.Model):
    """A data key, wrapped by the KEK (``parent`` null) or by another data key (``parent``)."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    workspace = models.ForeignKey(Workspace, null=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=KeyKind.choices)
    # "" for workspace-wide keys; "<kind>:<id>" (e.g. "contact:123") for a subject key.
    subject = models.CharField(max_length=80, blank=True)
    version = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=KeyState.choices)
    parent = models.ForeignKey("self", null=True, on_delete=models.PROTECT, related_name="+")
    kek_id = models.CharField(max_length=300, blank=True)
    wrapped = models.BinaryField()
    created_at = models.DateTimeField()
    state_changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "kind", "subject", "version"], name="datakey_one_per_version"
            ),
            models.UniqueConstraint(
                fields=["kind", "version"],
                condition=models.Q(workspace__isnull=True),
                name="datakey_one_system",
            ),
            models.UniqueConstraint(
                fields=["workspace", "kind", "subject"],
                condition=models.Q(state="active"),
                name="datakey_one_active",
            ),
        ]
        indexes = [models.Index(fields=["parent", "id"], name="datakey_by_parent")]

    def __str__(self) -> str:
        return f"{self.kind} key {self.pk} v{self.version} ({self.state})"


class LegalHold(TenantModel):
    """While a hold is unreleased, the subject's key cannot be destroyed. The privacy app drives holds."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    subject = models.CharField(max_length=80)
    # A case or matter reference, never free text about the person.
    reason = models.CharField(max_length=200)
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["workspace", "subject"], name="legalhold_by_subject")]

    def __str__(self) -> str:
        return f"hold {self.pk} on {self.subject}"


class RotationJob(models.Model):
    """Progress of one rotation, committed with each batch so an interrupted run resumes where it stopped."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    workspace = models.ForeignKey(Workspace, null=True, on_delete=models.CASCADE, related_name="+")
    target = models.CharField(max_length=16)  # "kek" or "workspace"
    new_key = models.CharField(max_length=300)  # a KEK id or a data key id
    cursor = models.JSONField(default=dict)  # {"<step>": last primary key done}
    done = models.BigIntegerField(default=0)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rotation {self.pk} of {self.target}"
