"""The consent ledger: wordings shown, append-only events with their proof, and state derived from them.

Nothing here holds a phone number, a name or message text in clear. The wording shown is the
business's own text (kept verbatim, hashed); the person's IP address, user agent and any evidence
reference supplied by the business are encrypted under the contact's key, so erasing the contact
shreds them while the ledger's structure (who, what, when, which wording) survives for the auditor.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from chatrk.consent.errors import LedgerIsAppendOnly
from chatrk.core.ids import new_id
from chatrk.core.models import TenantModel
from chatrk.crypto.fields import EncryptedTextField, EncryptionScope
from chatrk.inbox.models import Contact


class Purpose(models.TextChoices):
    """What a person agreed to receive. ``service`` is not consent: it is the hold a keyword opt-out
    puts on free-form replies until the person writes again."""

    MARKETING = "marketing"
    UTILITY = "utility"
    AUTHENTICATION = "authentication"
    SERVICE = "service"


CONSENT_PURPOSES = (Purpose.MARKETING, Purpose.UTILITY, Purpose.AUTHENTICATION)


class Source(models.TextChoices):
    WEB_FORM = "web_form", "Hosted opt-in page"
    IMPORT = "import", "CSV import"
    KEYWORD = "keyword", "Keyword reply"
    API = "api", "API"
    IN_THREAD = "in_thread", "In-thread reply"
    AGENT = "agent", "Agent"
    META_PREFERENCE = "meta_preference", "WhatsApp marketing preference"
    SEND_ERROR = "send_error", "Send error 131050"


class Kind(models.TextChoices):
    GRANT = "grant"  # consent given and active at once
    PENDING = "pending"  # captured off WhatsApp; waiting for the YES reply (double opt-in)
    CONFIRM = "confirm"  # the YES reply arrived: the pending consent is active
    REVOKE = "revoke"
    RESTORE = "restore"  # START/UNSTOP/YES or Meta's "resume" after a revocation


class Status(models.TextChoices):
    NONE = "none"
    PENDING = "pending"
    ACTIVE = "active"
    REVOKED = "revoked"


STATUS_AFTER: dict[str, str] = {
    Kind.GRANT: Status.ACTIVE,
    Kind.PENDING: Status.PENDING,
    Kind.CONFIRM: Status.ACTIVE,
    Kind.REVOKE: Status.REVOKED,
    Kind.RESTORE: Status.ACTIVE,
}


DEFAULT_OPT_OUT_REPLY = (
    "You are unsubscribed: we will not message you again unless you write to us. "
    "Reply START to subscribe again."
)


class ConsentSettings(TenantModel):
    """A workspace's consent choices (one row; defaults apply until it exists)."""

    double_opt_in = models.BooleanField(default=True)
    confirmation_template = models.CharField(max_length=512, default="consent_confirmation")
    confirmation_language = models.CharField(max_length=15, default="en")
    # Language codes whose built-in keyword lists apply (chatrk.consent.keywords.LANGUAGE_OPT_OUT).
    keyword_languages = models.JSONField(default=list)
    # Extra single-word keywords, e.g. ["ALTO", "BASTA"]; matched like the built-in ones.
    opt_out_keywords = models.JSONField(default=list)
    resubscribe_keywords = models.JSONField(default=list)
    # The one reply sent after a keyword opt-out (the business's own wording, not personal data).
    opt_out_reply = models.CharField(max_length=1024, default=DEFAULT_OPT_OUT_REPLY)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace"], name="one_consent_settings_per_workspace")
        ]

    def __str__(self) -> str:
        return f"consent settings {self.workspace_id}"


class ConsentWording(TenantModel):
    """The exact text a person was shown, versioned per workspace; business text, never personal."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    version = models.PositiveIntegerField()
    text = models.TextField()
    sha256 = models.CharField(max_length=64)
    business_name = models.CharField(max_length=120)
    purposes = models.JSONField()  # the purposes the text asks for, e.g. ["marketing", "utility"]
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "version"], name="wording_version_per_workspace"),
            models.UniqueConstraint(fields=["workspace", "sha256"], name="wording_hash_per_workspace"),
        ]

    def __str__(self) -> str:
        return f"wording v{self.version}"


class AppendOnly(models.Model):
    """Refuses UPDATE and DELETE through the ORM; database triggers refuse them for raw SQL too."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields"):
            raise LedgerIsAppendOnly(f"{self._meta.label} is append-only: update refused")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise LedgerIsAppendOnly(f"{self._meta.label} is append-only: delete refused")


class ConsentEvent(TenantModel, AppendOnly):
    """One change of consent, with its proof. Never edited; the state is derived from these."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="+")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    source = models.CharField(max_length=16, choices=Source.choices)
    # Events written together (one STOP revoking every purpose, one form submission) share a change id.
    change_id = models.BigIntegerField(db_index=True)
    wording = models.ForeignKey(
        ConsentWording, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    captured_by_kind = models.CharField(max_length=16)  # user, token, system, contact
    captured_by_id = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField()  # when the person consented or revoked (UTC)
    recorded_at = models.DateTimeField()  # when Chatrk wrote it
    # How the person expressed it at capture: checkbox, keyword, button, paper, ivr, verbal, web_form, other.
    capture_method = models.CharField(max_length=16, blank=True)
    keyword = models.CharField(max_length=32, blank=True)  # the normalised keyword matched, e.g. STOP
    error_code = models.IntegerField(null=True, blank=True)  # 131050 for a send refused by Meta
    evidence_wamid = models.CharField(max_length=200, blank=True)  # Meta's id of the message that proves it
    evidence_message_id = models.BigIntegerField(null=True, blank=True)  # the inbox Message, if stored
    # Personal or business-supplied values: under the contact's key (erasure shreds them).
    ip = EncryptedTextField(null=True)
    user_agent = EncryptedTextField(null=True)
    evidence_ref = EncryptedTextField(null=True)  # e.g. an import's own form-submission reference

    encryption = EncryptionScope(subject_kind="contact", subject="contact_id")

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "contact", "purpose", "id"], name="consent_event_history"),
            models.Index(fields=["workspace", "-id"], name="consent_event_recent"),  # the ledger page
        ]

    def __str__(self) -> str:
        return f"consent event {self.pk}"


class ConsentState(TenantModel):
    """The current status per (contact, purpose): a cache of the events, rebuilt and verified from them."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    status = models.CharField(max_length=8, choices=Status.choices)
    last_event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+")
    # Whether consent was ever active before a revocation: a resubscribe restores only that.
    was_active = models.BooleanField(default=False)
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "contact", "purpose"], name="one_consent_state_per_purpose"
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose}={self.status}"


class OptOutConfirmation(TenantModel):
    """At most one confirmation reply per revocation: the outbound side claims it once."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    change_id = models.BigIntegerField(unique=True)  # the revocation's change id
    created_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"opt-out confirmation {self.pk}"


class DoubleOptIn(TenantModel):
    """A confirmation template owed to (or sent to) a contact whose consent is pending."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    change_id = models.BigIntegerField(unique=True)  # the PENDING events' change id
    requested_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)  # the outbound side took it to send
    sent_wamid = models.CharField(max_length=200, blank=True)  # set once WhatsApp accepted the template
    send_failure = models.CharField(max_length=300, blank=True)  # plain reason when it could not be sent
    confirmed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"double opt-in {self.pk}"


class ReviewItem(TenantModel):
    """A free-text reply that may be an opt-out ("stop texting me"): an agent decides."""

    class Outcome(models.TextChoices):
        OPEN = "open"
        REVOKED = "revoked"  # the agent read it as an opt-out and revoked consent
        DISMISSED = "dismissed"  # not an opt-out

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    message_id = models.BigIntegerField(null=True, blank=True)  # the inbox Message (its text stays there)
    wamid = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "outcome", "created_at"], name="consent_review_queue")]

    def __str__(self) -> str:
        return f"review {self.pk}"
