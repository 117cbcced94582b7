"""WhatsApp numbers, the people who write to them, conversations and messages.

Personal data (a contact's WhatsApp id and name, message bodies and payloads) is encrypted under the
contact's key, so erasing a contact shreds all of it; a channel's credentials under the workspace key.
Every model here is a tenant row with an id assigned before INSERT (it is bound into each ciphertext).
"""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.db import models

from chatrk.core.ids import new_id
from chatrk.core.models import TenantModel, Workspace
from chatrk.crypto.fields import BlindIndexField, EncryptedJSONField, EncryptedTextField, EncryptionScope


class Channel(TenantModel):
    """One connected WhatsApp Business phone number."""

    class Health(models.TextChoices):
        CONNECTED = "connected"
        REAUTHORISE = "reauthorise", "Re-authorisation needed"
        RESTRICTED = "restricted"
        DISCONNECTED = "disconnected"

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(max_length=80)
    phone_number_id = models.CharField(max_length=32, unique=True)  # Meta's id; inbound events name it
    waba_id = models.CharField(max_length=32)
    display_phone_number = models.CharField(max_length=32)  # the business's own public number
    graph_url = models.URLField(default="https://graph.facebook.com")
    api_version = models.CharField(max_length=8, default="v23.0")
    # Meta's webhook for this number is /webhooks/whatsapp/<webhook_key>: the key picks the app secret
    # that must sign the body, before a byte of it is parsed.
    webhook_key = models.CharField(max_length=43, unique=True)
    access_token = EncryptedTextField()
    app_secret = EncryptedTextField()
    verify_token = EncryptedTextField()
    health = models.CharField(max_length=16, choices=Health.choices, default=Health.CONNECTED)
    quality_rating = models.CharField(max_length=16, blank=True)  # GREEN, YELLOW, RED, UNKNOWN
    throughput_level = models.CharField(
        max_length=16, default="STANDARD"
    )  # STANDARD (80/s) or HIGH (1,000/s)
    messaging_tier = models.CharField(max_length=24, blank=True)  # TIER_250 … TIER_UNLIMITED
    health_checked_at = models.DateTimeField(null=True, blank=True)
    # Round-robin: new conversations on this number go to the next member who may reply.
    auto_assign = models.BooleanField(default=False)
    last_auto_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Blue ticks: when a member opens a conversation, WhatsApp hears that its newest message was read.
    send_read_receipts = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    encryption = EncryptionScope()

    def __str__(self) -> str:
        return f"channel {self.pk}"


class Contact(TenantModel):
    """A customer on WhatsApp. Their own key protects everything about them."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    wa_id = EncryptedTextField()
    wa_id_index = BlindIndexField(source="wa_id", normaliser="whatsapp_id", expected_rows=10_000_000)
    profile_name = EncryptedTextField(null=True)
    notes = EncryptedTextField(null=True)  # the team's own notes about this person
    blocked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    encryption = EncryptionScope(subject_kind="contact", subject="id")

    class Meta:
        # Both columns of the lookup: with the blind index alone, SQLite without statistics picks the
        # workspace's index instead and reads every contact of the workspace per lookup.
        indexes = [models.Index(fields=["workspace", "wa_id_index"], name="contact_by_wa_id")]

    def __str__(self) -> str:
        return f"contact {self.pk}"


class Conversation(TenantModel):
    """The thread between one channel and one contact; resolved threads reopen on a new message."""

    class Status(models.TextChoices):
        OPEN = "open"
        PENDING = "pending"
        SNOOZED = "snoozed"
        RESOLVED = "resolved"

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    number = models.PositiveIntegerField()  # shown to people: #1, #2 … per workspace
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # The customer-service window: free-form replies are allowed for 24 h after the last inbound message.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField()
    unread = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "contact"], name="one_conversation_per_contact_and_channel"
            ),
            models.UniqueConstraint(fields=["workspace", "number"], name="conversation_number_per_workspace"),
        ]
        # Each list view reads one of these in order, newest first, and stops after a page: the whole key
        # is descending so that (last_message_at, id) DESC needs no sort step.
        indexes = [
            models.Index(fields=["workspace", "-last_message_at", "-id"], name="conversation_recent"),
            models.Index(
                fields=["workspace", "status", "-last_message_at", "-id"], name="conversation_by_status"
            ),
            models.Index(
                fields=["workspace", "assignee", "-last_message_at", "-id"], name="conversation_by_assignee"
            ),
            models.Index(fields=["workspace", "contact"], name="conversation_by_contact"),
            # Unread counts read only the conversations that have unread messages.
            models.Index(
                fields=["workspace", "assignee"], name="conversation_unread", condition=models.Q(unread__gt=0)
            ),
        ]

    def __str__(self) -> str:
        return f"conversation #{self.number}"


class Message(TenantModel):
    class Direction(models.TextChoices):
        INBOUND = "in"
        OUTBOUND = "out"
        NOTE = "note"  # an internal note by a member: never sent to the customer
        EVENT = "event"  # something that happened in the thread: assigned, opted out, number changed

    class Status(models.TextChoices):
        """Outbound progress is monotonic: a later status never goes back to an earlier one."""

        RECEIVED = "received"  # inbound
        HELD = "held"  # outbound, waiting for a compliance officer's review (content policy)
        QUEUED = "queued"  # outbound, in the outbox
        SENT = "sent"
        DELIVERED = "delivered"
        READ = "read"
        FAILED = "failed"
        DELETED = "deleted"
        LOGGED = "logged"  # a note or an event: not a WhatsApp message, has no delivery status

    # First, where TenantModel puts it (the drainer builds rows positionally); no index of its own.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    # No index of its own: message_thread starts with it. With both, PostgreSQL read an older page of
    # a long thread through this one and sorted the whole thread (25 ms for 5,000 messages).
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    # No index of its own either: the wamid constraint starts with it (as message_live_id starts with
    # the workspace), and every message the drainer stores updates every index.
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    direction = models.CharField(max_length=5, choices=Direction.choices)
    kind = models.CharField(max_length=24)  # Meta's message type: text, image, template, reaction, …
    body = EncryptedTextField(null=True)  # the text a person reads: text body, caption, button title
    payload = EncryptedJSONField(null=True)  # everything else about the message, typed per kind
    # Meta's id, unique per channel; NULL (not "") until sent, as NULLs never collide in the constraint.
    wamid = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    reply_to_wamid = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=200, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)  # Meta's timestamp for inbound, ours for outbound
    status_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    encryption = EncryptionScope(subject_kind="contact", subject="contact_id")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "wamid"], name="wamid_unique_per_channel")]
        indexes = [
            models.Index(fields=["conversation", "-created_at", "-id"], name="message_thread"),
            # The live poll's "newest message" and "newest status change", per workspace and per thread.
            models.Index(fields=["workspace", "id"], name="message_live_id"),
            models.Index(fields=["workspace", "status_at"], name="message_live_status"),
            models.Index(fields=["conversation", "status_at"], name="message_thread_status"),
            # PostgreSQL would otherwise answer MAX(id) of one thread by walking the primary key backwards.
            models.Index(fields=["conversation", "id"], name="message_thread_ids"),
        ]

    def __str__(self) -> str:
        return f"message {self.pk}"


class Counter(TenantModel):
    """Per-workspace sequences (conversation numbers) without PostgreSQL-only sequences."""

    name = models.CharField(max_length=32)
    value = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="one_counter_per_name")]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class Media(TenantModel):
    """A file of a message, stored encrypted under the contact's key (``chatrk.crypto.files``)."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    meta_media_id = models.CharField(max_length=64, blank=True)  # Meta's id (inbound, or after upload)
    mime_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(null=True, blank=True)  # bytes, once stored
    sha256 = models.CharField(max_length=64, blank=True)  # of the plaintext, as Meta reports it
    filename = EncryptedTextField(null=True)
    stored_at = models.DateTimeField(null=True, blank=True)  # None: not downloaded (yet)
    error = models.CharField(max_length=200, blank=True)  # why it could not be stored, in words
    created_at = models.DateTimeField()

    encryption = EncryptionScope(subject_kind="contact", subject="contact_id")

    def __str__(self) -> str:
        return f"media {self.pk}"


class Label(TenantModel):
    """A workspace's tag for conversations ("billing", "vip"), used to filter the inbox."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(max_length=40)  # as first spelled
    # The name without case or Unicode form ("VIP" and "vip" are one label), made in Python:
    # SQLite's lower() and LIKE fold ASCII letters only.
    name_key = models.CharField(max_length=120)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name_key"], name="label_name_key_per_workspace")
        ]

    @staticmethod
    def key_of(name: str) -> str:
        """Unicode's caseless match of identifiers: compatibility form, case fold, form again."""
        return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())

    def __str__(self) -> str:
        return self.name


class ConversationLabel(TenantModel):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "label"], name="label_once_per_conversation")
        ]
        indexes = [models.Index(fields=["label", "conversation"], name="conversations_by_label")]

    def __str__(self) -> str:
        return f"{self.label_id} on {self.conversation_id}"


class CannedResponse(TenantModel):
    """A saved reply an agent inserts by its shortcut ("/hours"); business text, not personal data."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    shortcut = models.SlugField(max_length=32)
    text = models.TextField(max_length=4096)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "shortcut"], name="canned_shortcut_per_workspace")
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class ContactNameWord(TenantModel):
    """One word of a contact's profile name as a blind index (``chatrk.inbox.names``), so the inbox can
    find "maria" among encrypted names; the word itself is never stored."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    token = models.BigIntegerField()

    index_of_subject = EncryptionScope(subject_kind="contact", subject="contact_id")  # erased with them

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "token"], name="one_name_word")]
        indexes = [models.Index(fields=["workspace", "token"], name="contacts_by_name_word")]

    def __str__(self) -> str:
        return f"name word of {self.contact_id}"


class NoteKey(TenantModel):
    """The one-time key of the form a note was written in (bound to its member), so a form submitted
    twice (a double click, a reload) adds its note once."""

    key = models.CharField(max_length=200)
    note = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="note_key_per_workspace")]

    def __str__(self) -> str:
        return f"key of note {self.note_id}"
