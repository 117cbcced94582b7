"""Ingest's own rows: raw webhook events waiting to be applied, orphans, and notices for other apps.

Raw bodies are personal data (names, numbers, message text), so they are encrypted under the workspace
key like every other column that holds Meta's payloads.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from chatrk.core.ids import new_id
from chatrk.core.models import TenantModel, Workspace
from chatrk.crypto.fields import EncryptedField, EncryptedJSONField
from chatrk.inbox.models import Channel


class EncryptedBytesField(EncryptedField):
    """Raw bytes, encrypted: a webhook body is kept exactly as received, even if it is not UTF-8."""

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, bytes):
            raise TypeError("EncryptedBytesField takes bytes")
        return value

    def decode(self, plaintext: bytes) -> bytes:
        return plaintext


class RawEvent(TenantModel):
    """One signed webhook POST, stored before it is parsed; deleted once applied.

    ``dedup_key`` is the SHA-256 of the body: Meta's byte-identical redeliveries insert nothing. A row
    is claimed by a drainer for a lease (``claimed_until``); a drainer that dies loses its lease and
    another takes the row. A body that cannot be applied is kept as *poison* with a reason (a JSON
    path or an exception class, never content) and is not retried.
    """

    # The busiest INSERT there is: the database neither checks nor indexes its two keys by themselves
    # (each index and each key check is more work per webhook). Rows are found by id or by the unique
    # (channel, dedup_key) index; a workspace's or channel's rows go with it through Django's cascade,
    # over a table that holds only the events not yet drained. The workspace comes first, where
    # TenantModel puts it: the drainer loads claimed rows in column order.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    dedup_key = models.BinaryField(max_length=32)
    body = EncryptedBytesField()
    received_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    poisoned_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "dedup_key"], name="raw_event_dedup_per_channel"),
        ]
        indexes = [models.Index(fields=["poisoned_at", "claimed_until", "id"], name="raw_event_due")]

    def __str__(self) -> str:
        return f"raw event {self.pk}"


class Orphan(TenantModel):
    """A status, edit or revoke for a message we do not have (yet), kept until the message appears.

    Statuses routinely overtake the sender's commit of the wamid; the sender calls
    ``chatrk.ingest.actions.apply_orphans`` after storing it. Orphans expire after ``ORPHAN_TTL``.
    """

    class Kind(models.TextChoices):
        STATUS = "status"
        EDIT = "edit"
        REVOKE = "revoke"

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    target_wamid = models.CharField(max_length=256)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    dedup_key = models.CharField(max_length=64)
    payload = EncryptedJSONField()
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "dedup_key"], name="orphan_dedup_per_channel")
        ]
        indexes = [
            models.Index(fields=["channel", "target_wamid"], name="orphan_target"),
            models.Index(fields=["received_at"], name="orphan_age"),
        ]

    def __str__(self) -> str:
        return f"orphan {self.kind} {self.pk}"


class ChannelNotice(TenantModel):
    """What Meta tells us about a number, an account or a template, for the apps that act on it.

    ``kind`` is the webhook field (``message_template_status_update``, ``phone_number_quality_update``,
    ``account_update``, ``errors`` …). The templates app (not written yet) consumes the template rows
    whose ``consumed_at`` is empty; ``details`` holds Meta's ids, enums and sentences about templates,
    never customer data.
    """

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=48)
    event = models.CharField(max_length=48, blank=True)  # APPROVED, RED, FLAGGED, ACCOUNT_RESTRICTION …
    template_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict)
    payload = EncryptedJSONField(null=True)  # an unknown webhook field's value, kept whole but encrypted
    dedup_key = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(null=True, blank=True)  # Meta's time, when it says
    received_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "dedup_key"], name="notice_dedup_per_channel")
        ]
        indexes = [models.Index(fields=["kind", "consumed_at"], name="notice_unconsumed")]

    def __str__(self) -> str:
        return f"notice {self.kind} {self.pk}"


class MediaFetch(TenantModel):
    """Retry bookkeeping for downloading one inbound ``inbox.Media``."""

    media = models.OneToOneField("inbox.Media", on_delete=models.CASCADE, primary_key=True, related_name="+")
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    done = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["done", "next_attempt_at"], name="media_fetch_due")]

    def __str__(self) -> str:
        return f"media fetch {self.pk}"
