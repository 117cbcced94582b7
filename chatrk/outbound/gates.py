"""``check_send``: every gate a message passes before it may be queued, each answering Allow or Refuse.

The gates run in a fixed order and all of them run, so a refusal can name every reason at once. The
pipeline fails closed: a gate that raises is a refusal (``gate_error``), never a send.

The consent gate asks the consent ledger (``chatrk.consent.gate``), the template check the template
store (``chatrk.msgtemplates.sending``: approved by Chatrk *and* by Meta, not paused or disabled), the
content-policy gate the prohibited-content engine (``chatrk.policy``). Not enforced yet, and saying so
in its ``reason``: :func:`training_gate` (the training issue will require completed modules).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from chatrk.core.clock import now
from chatrk.core.roles import Perm, role_allows
from chatrk.inbox.actions import window_closes_at, window_is_open
from chatrk.inbox.models import Channel, Contact, Conversation

if TYPE_CHECKING:
    from chatrk.policy.engine import PolicyDecision

logger = logging.getLogger(__name__)

NOT_ENFORCED = "not enforced yet"


@dataclass(frozen=True, slots=True)
class Allow:
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Refuse:
    code: str  # machine-readable: no_permission, window_closed, channel_reauthorise, gate_error, …
    reason: str  # plain language for the agent; never message content

    @property
    def allowed(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Hold(Refuse):
    """The content policy wants a compliance officer to look first. Not an allow (a caller that only
    reads ``allowed`` sends nothing); ``do_enqueue`` stores the message held and queues it for review."""

    policy: PolicyDecision | None = None


type Verdict = Allow | Refuse


@dataclass(frozen=True, slots=True)
class TemplateRef:
    name: str
    language: str
    category: str = ""  # MARKETING, UTILITY, AUTHENTICATION once the templates store knows it


@dataclass(frozen=True, slots=True)
class SendRequest:
    """What the gates judge: who sends what kind of message to whom, through which number."""

    workspace_id: int
    role: str  # the sender's role (for an API token: its creator's role)
    conversation: Conversation
    kind: str  # Meta's type: text, image, template, interactive, reaction, …
    template: TemplateRef | None = None
    text: str = ""  # what the customer would read (for the content-policy gate); never logged
    permission: Perm = Perm.REPLY_INBOX
    user_id: int | None = None
    at: datetime = field(default_factory=now)

    @property
    def channel(self) -> Channel:
        return self.conversation.channel

    @property
    def contact(self) -> Contact:
        return self.conversation.contact


@dataclass(frozen=True, slots=True)
class Decision:
    results: tuple[tuple[str, Verdict], ...]

    @property
    def allowed(self) -> bool:
        return all(verdict.allowed for _, verdict in self.results)

    @property
    def refusals(self) -> list[Refuse]:
        return [v for _, v in self.results if isinstance(v, Refuse)]

    @property
    def hold(self) -> Hold | None:
        """The content policy's hold when it is the only thing in the way (the message waits for review)."""
        refusals = self.refusals
        if len(refusals) == 1 and isinstance(refusals[0], Hold):
            return refusals[0]
        return None

    @property
    def reason(self) -> str:
        refusals = self.refusals
        if refusals:
            return " ".join(r.reason for r in refusals)
        return "Allowed."

    def explain(self) -> list[dict[str, str | bool]]:
        return [
            {"gate": name, "allowed": v.allowed, "code": getattr(v, "code", ""), "reason": v.reason}
            for name, v in self.results
        ]


# --- the gates -------------------------------------------------------------------------------------


def permission_gate(request: SendRequest) -> Verdict:
    if request.conversation.workspace_id != request.workspace_id:
        return Refuse("no_permission", "This conversation belongs to another workspace.")
    if not role_allows(request.role, request.permission):
        return Refuse("no_permission", "Your role does not allow sending messages here.")
    return Allow()


def training_gate(request: SendRequest) -> Verdict:
    return Allow(f"Training: {NOT_ENFORCED} (the training issue will require completed modules).")


def consent_purpose(request: SendRequest) -> str:
    """The consent a send needs: its template's category, or ``service`` for a free-form reply."""
    return _template_category(request).lower() if request.kind == "template" else "service"


def consent_gate(request: SendRequest) -> Verdict:
    """A template needs active consent for its category; a free-form reply needs the open window."""
    from chatrk.consent.gate import check_consent

    # The window gate judges the 24-hour window; here a free-form reply only meets a keyword opt-out.
    decision = check_consent(
        request.workspace_id, request.conversation.contact_id, consent_purpose(request), window_open=True
    )
    if decision.allowed:
        return Allow(f"Consent: {decision.reason}.")
    return Refuse("no_consent", f"No consent: {decision.reason}.")


def _template_category(request: SendRequest) -> str:
    """The category the template store knows; MARKETING (the strictest) when it cannot tell."""
    if request.template is None:
        return "MARKETING"
    if request.template.category:
        return request.template.category
    from chatrk.msgtemplates.sending import sendable_template

    found = sendable_template(
        request.workspace_id,
        request.conversation.channel_id,
        request.template.name,
        request.template.language,
    )
    return str(getattr(found, "category", "") or "MARKETING")


def channel_gate(request: SendRequest) -> Verdict:
    channel = request.channel
    if channel.health == Channel.Health.REAUTHORISE:
        return Refuse(
            "channel_reauthorise",
            "This WhatsApp number needs re-authorisation: its access token was rejected. "
            "An admin must reconnect it before anything can be sent.",
        )
    if channel.health == Channel.Health.DISCONNECTED:
        return Refuse("channel_disconnected", "This WhatsApp number is disconnected.")
    return Allow()


def blocked_gate(request: SendRequest) -> Verdict:
    """A blocked number gets nothing: replies, templates and campaign messages alike. Asked of the
    database, not of the conversation's cached contact, so a block takes effect at once."""
    from chatrk.inbox.blocking import BLOCKED_REASON, is_blocked

    if is_blocked(request.workspace_id, request.conversation.contact_id):
        return Refuse("contact_blocked", BLOCKED_REASON)
    return Allow()


def template_approved(request: SendRequest, template: TemplateRef) -> Verdict:
    """Only a template approved by a compliance officer and by Meta, and neither paused nor disabled."""
    from chatrk.msgtemplates.sending import Refusal, sendable_template

    found = sendable_template(
        request.workspace_id, request.conversation.channel_id, template.name, template.language
    )
    if isinstance(found, Refusal):
        return Refuse("template_not_sendable", found.reason)
    return Allow("The template is approved by your compliance officer and by WhatsApp.")


def window_gate(request: SendRequest) -> Verdict:
    """Free-form only inside the 24-hour customer-service window; outside it, only a template."""
    if request.kind == "template":
        if request.template is None:
            return Refuse("template_missing", "A template message must name its template.")
        return template_approved(request, request.template)
    if window_is_open(request.conversation, request.at):
        return Allow("Inside the 24-hour customer-service window.")
    closes = window_closes_at(request.conversation)
    if closes is None:
        return Refuse(
            "window_closed",
            "The customer has not written to this number, so only an approved template can start the chat.",
        )
    return Refuse(
        "window_closed",
        "More than 24 hours have passed since the customer's last message, so only an approved "
        "template can be sent until they write again.",
    )


def content_policy_gate(request: SendRequest) -> Verdict:
    """Prohibited content is blocked; doubtful content waits for a compliance officer (docs/policy.md)."""
    if not request.text:
        return Allow("Content policy: nothing to read (the template was checked when it was created).")
    from chatrk.policy.actions import check_outbound_message
    from chatrk.policy.engine import Action

    decision = check_outbound_message(request.workspace_id, request.text)
    if decision.action is Action.ALLOW:
        return Allow("Content policy: allowed.")
    if decision.action is Action.BLOCK:
        return Refuse("content_blocked", decision.explanation)
    return Hold(
        "content_held",
        f"{decision.explanation} It waits in the review queue and goes out once a compliance officer "
        "releases it.",
        decision,
    )


type Gate = Callable[[SendRequest], Verdict]

GATES: list[tuple[str, Gate]] = [
    ("permission", permission_gate),
    ("training", training_gate),
    ("consent", consent_gate),
    ("channel", channel_gate),
    ("blocked", blocked_gate),
    ("window", window_gate),
    ("content_policy", content_policy_gate),
]


def check_send(request: SendRequest) -> Decision:
    """Runs every gate in order; an exception in a gate is a refusal (fail closed), never a send."""
    results: list[tuple[str, Verdict]] = []
    for name, gate in GATES:
        try:
            verdict = gate(request)
            if not isinstance(verdict, Allow | Refuse):
                raise TypeError("a gate must return Allow or Refuse")
        except Exception as error:
            logger.warning("send gate %s failed: %s", name, type(error).__name__)
            verdict = Refuse(
                "gate_error",
                f"The {name.replace('_', ' ')} check could not be completed, so nothing was sent.",
            )
        results.append((name, verdict))
    return Decision(tuple(results))
