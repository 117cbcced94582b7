"""What the drainer tells the consent ledger (docs/consent.md), inside the drain transaction.

Each runs once per new event (never for a duplicate) and in the transaction that stores it, so an
opt-out is in the ledger before any later send can be checked against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from chatrk.whatsapp.enums import MarketingPreference


def inbound_reply(
    *,
    workspace_id: int,
    contact_id: int,
    message_id: int | None,
    wamid: str,
    at: datetime,
    text: str | None,
    button_payload: str | None,
    opt_out_only: bool = False,
) -> None:
    """Every conversational message: STOP and its synonyms revoke, START/YES resubscribe or confirm a
    double opt-in, free text that sounds like an opt-out goes to an agent, anything else lifts a hold.
    ``opt_out_only``: a blocked number's message (not stored): only a revocation applies."""
    from chatrk.consent.actions import apply_inbound_reply

    outcome = apply_inbound_reply(
        workspace_id, contact_id, wamid=wamid, received_at=at, text=text, button_payload=button_payload,
        message_id=message_id, opt_out_only=opt_out_only,
    )  # fmt: skip
    if outcome.confirmation_due:  # one reply per revocation, queued in this same batch
        from chatrk.outbound.system import confirm_opt_out_in_drain

        confirm_opt_out_in_drain(workspace_id, contact_id)


@dataclass(frozen=True, slots=True)
class InboundReply:
    """One conversational message of a drain batch, as ``inbound_reply`` takes it."""

    workspace_id: int
    contact_id: int
    message_id: int | None
    wamid: str
    at: datetime
    text: str | None
    button_payload: str | None
    opt_out_only: bool = False


def inbound_replies(replies: Sequence[InboundReply]) -> None:
    """A batch's messages in order: ``inbound_reply`` for each that can change the ledger (a keyword,
    a button, or a message from a contact whose replies are held); the holds are read once a batch."""
    from chatrk.consent.actions import replies_to_apply

    due = replies_to_apply(
        [(r.workspace_id, r.contact_id, r.text, r.button_payload, r.opt_out_only) for r in replies]
    )
    for reply, apply in zip(replies, due, strict=True):
        if apply:
            inbound_reply(**asdict(reply))


def marketing_preference_changed(
    *, workspace_id: int, contact_id: int, preference: MarketingPreference, at: datetime
) -> None:
    """Meta's ``user_preferences`` webhook: the customer stopped, resumed or signed up to marketing."""
    from chatrk.consent.actions import apply_user_preference

    apply_user_preference(workspace_id, contact_id, value=preference.value, occurred_at=at)


def marketing_send_refused(*, workspace_id: int, contact_id: int, wamid: str, at: datetime) -> None:
    """A ``failed`` status with error 131050: the customer stopped marketing messages in WhatsApp."""
    from chatrk.consent.actions import apply_send_error_131050

    apply_send_error_131050(workspace_id, contact_id, wamid=wamid, occurred_at=at)
