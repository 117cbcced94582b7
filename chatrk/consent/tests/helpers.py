"""Builders for consent tests."""

from __future__ import annotations

from datetime import datetime

from chatrk.audit.actions import Actor
from chatrk.consent import actions
from chatrk.consent.models import ConsentWording, Source
from chatrk.core.models import Workspace
from chatrk.inbox.actions import contact_for
from chatrk.inbox.models import Contact

WORDING = (
    "Yes, I want to receive offers, order updates and login codes from {name} on WhatsApp. "
    "Consent is not a condition of purchase. Reply STOP at any time to opt out."
)


def wording(
    workspace: Workspace,
    purposes: tuple[str, ...] = ("marketing", "utility", "authentication"),
    text: str = WORDING,
) -> ConsentWording:
    return actions.publish_wording(
        workspace.pk,
        text=text.format(name=workspace.name),
        business_name=workspace.name,
        purposes=purposes,
        actor=Actor("system"),
    )


def contact(workspace: Workspace, number: str = "447911123123") -> Contact:
    return contact_for(workspace.pk, number)


def grant(
    workspace: Workspace,
    who: Contact,
    purposes: tuple[str, ...] = ("marketing",),
    *,
    source: Source = Source.IN_THREAD,
    at: datetime | None = None,
    double_opt_in: bool | None = None,
) -> actions.Change:
    found = wording(workspace)
    proof = actions.Proof(
        source=source,
        captured_by=Actor("user", "1"),
        occurred_at=at,
        wording_id=found.pk,
        capture_method="checkbox",
    )
    return actions.record_consent(workspace.pk, who.pk, purposes, proof, double_opt_in=double_opt_in)
