"""Message templates: one row per (WABA, name, language), every edit kept as a version.

Template text is business content, not personal data, so it is stored in clear. Two statuses move
independently: ``status`` is Chatrk's own review (draft → in review → approved | rejected), and
``meta_status`` is Meta's verdict. A template can be sent only when both say approved.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from chatrk.core.ids import new_id
from chatrk.core.models import TenantModel
from chatrk.inbox.models import Channel


class Template(TenantModel):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    class MetaStatus(models.TextChoices):
        NOT_SUBMITTED = "NOT_SUBMITTED", "Not submitted"
        SUBMITTING = "SUBMITTING", "Submitting"
        SUBMIT_FAILED = "SUBMIT_FAILED", "Submission failed"
        PENDING = "PENDING", "Pending"
        APPROVED = "APPROVED", "Approved"
        REJECTED = "REJECTED", "Rejected"
        PAUSED = "PAUSED", "Paused"
        DISABLED = "DISABLED", "Disabled"
        IN_APPEAL = "IN_APPEAL", "In appeal"
        FLAGGED = "FLAGGED", "Flagged"
        LOCKED = "LOCKED", "Locked"
        LIMIT_EXCEEDED = "LIMIT_EXCEEDED", "Limit exceeded"
        PENDING_DELETION = "PENDING_DELETION", "Pending deletion"
        DELETED = "DELETED", "Deleted"
        ARCHIVED = "ARCHIVED", "Archived"
        UNKNOWN = "UNKNOWN", "Unknown"

    class Origin(models.TextChoices):
        CHATRK = "chatrk", "Written in Chatrk"
        META = "meta", "Imported from Meta"

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    waba_id = models.CharField(max_length=32)  # the channel's WABA when created: names are unique per WABA
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=16)
    category = models.CharField(max_length=16)  # MARKETING, UTILITY, AUTHENTICATION
    parameter_format = models.CharField(max_length=10, default="POSITIONAL")  # or NAMED
    components = models.JSONField(default=list)  # the current version's, for lists and sends
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.CHATRK)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    review_comment = models.TextField(blank=True)
    current_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    meta_status = models.CharField(
        max_length=20, choices=MetaStatus.choices, default=MetaStatus.NOT_SUBMITTED
    )
    meta_template_id = models.CharField(max_length=64, blank=True)
    meta_reason = models.TextField(blank=True)  # rejection reason, pause title or submission error
    meta_quality = models.CharField(max_length=8, blank=True)  # GREEN, YELLOW, RED, UNKNOWN
    meta_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # the version Meta last received
    meta_updated_at = models.DateTimeField(null=True, blank=True)
    meta_event_at = models.DateTimeField(null=True, blank=True)  # Meta's time of the last webhook applied

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "waba_id", "name", "language"], name="template_name_language_per_waba"
            )
        ]
        indexes = [models.Index(fields=["workspace", "status"], name="template_by_status")]

    def __str__(self) -> str:
        return f"template {self.name}/{self.language}"

    def definition(self) -> dict[str, Any]:
        """The current document, as sent to Meta's ``message_templates``."""
        return {
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "parameter_format": self.parameter_format,
            "components": self.components,
        }


class TemplateVersion(TenantModel):
    """One saved state of a template; approvals and submissions point at the version they judged."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    category = models.CharField(max_length=16)
    parameter_format = models.CharField(max_length=10)
    components = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="template_version_number")]

    def __str__(self) -> str:
        return f"version {self.number} of template {self.template_id}"
