"""The outbox: one row per attempt to send a message, claimed by senders, ending in one final state.

A row moves ``queued → sending → sent | failed``. A row the content policy held starts ``held`` (never
claimed) and becomes ``queued`` when a compliance officer releases it, or ``failed`` when they reject
it. ``queued`` may come back from ``sending`` only when the call is known not to have reached Meta (a
back-off retry after an error answer). A row found in ``sending`` with an expired lease is never
re-sent: it ends ``failed`` with an "outcome unknown" reason (see docs/outbound.md). "Retry failed"
makes a *new* row for the same message.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from chatrk.core.ids import new_id
from chatrk.core.models import TenantModel
from chatrk.inbox.models import Channel, Contact, Media, Message


class OutboxItem(TenantModel):
    class State(models.TextChoices):
        HELD = "held"  # the content policy held it: waits for a compliance officer, never claimed
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"

    FINAL_STATES = frozenset({State.SENT, State.FAILED})

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    media = models.ForeignKey(Media, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    attempt = models.PositiveIntegerField(default=1)  # 1 for the first send, +1 for each "retry failed"
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    # The consent purpose the sender checks again right before the call (a STOP may have come since);
    # "" only for the system's own replies the consent gate exempts (opt-out and double opt-in requests).
    consent_purpose = models.CharField(max_length=16, blank=True)
    # What the system sent on its own, for the owner to hear back: "double_opt_in:<change id>" or
    # "opt_out_confirmation:<change id>"; empty for people's and integrators' messages.
    system_ref = models.CharField(max_length=40, blank=True)
    due_at = models.DateTimeField()
    tries = models.PositiveIntegerField(default=0)  # calls made for this row (back-off retries included)
    claimed_by = models.CharField(max_length=64, blank=True)  # the sender that holds the lease
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error_code = models.IntegerField(null=True, blank=True)
    last_error_reason = models.CharField(max_length=300, blank=True)  # plain language, never content
    wamid = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True)  # API sends: unique per workspace
    request_fingerprint = models.CharField(max_length=64, blank=True)  # SHA-256 of the request body
    created_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)  # a held row let go: its 24 h start then
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "attempt"], name="outbox_one_row_per_attempt"),
            models.UniqueConstraint(
                fields=["message"],
                condition=Q(state__in=["held", "queued", "sending"]),
                name="outbox_one_live_row_per_message",
            ),
            models.UniqueConstraint(
                fields=["workspace", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="outbox_idempotency_key_per_workspace",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "due_at"], name="outbox_due"),
            models.Index(fields=["state", "lease_until"], name="outbox_leases"),
        ]

    def __str__(self) -> str:
        return f"outbox {self.pk} ({self.state})"


class RateBucket(models.Model):
    """A token bucket shared by every sender: a number's throughput, or one (number, customer) pair.

    Not a tenant row: it holds no customer data, only a key made of our own ids and two numbers.
    """

    key = models.CharField(max_length=80, primary_key=True)
    tokens = models.FloatField()
    updated_at = models.FloatField()  # unix seconds (float), from chatrk.core.clock.now
    blocked_until = models.FloatField(default=0.0)  # Meta said "too fast": nothing until then

    def __str__(self) -> str:
        return f"bucket {self.key}"


class ReadReceipt(TenantModel):
    """The blue ticks owed for one conversation: the newest inbound message a member has seen.

    One row per conversation, rewritten each time a member opens it with unread messages; sent off the
    request path (``chatrk.outbound.receipts``), retried with back-off on transient failures.
    """

    conversation = models.OneToOneField(
        "inbox.Conversation", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    done = models.BooleanField(default=False)
    last_error = models.CharField(max_length=200, blank=True)  # plain language, never content

    class Meta:
        indexes = [models.Index(fields=["done", "next_attempt_at"], name="read_receipt_due")]

    def __str__(self) -> str:
        return f"read receipt {self.pk}"
