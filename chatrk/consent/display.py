"""Consent events as proof a person can read: shared by the contact panel and the ledger page.

The person's IP address and user agent are encrypted under the contact's key; they are opened here
through ``reveal`` (one audited read per page) and only for the events that hold them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatrk.accounts.models import User
from chatrk.audit.actions import Origin
from chatrk.consent.models import STATUS_AFTER, ConsentEvent, ConsentWording, Source
from chatrk.core.models import Membership
from chatrk.core.roles import Perm
from chatrk.crypto.reveal import reveal

_CAPTURED_BY = {
    "contact": "the customer",
    "anonymous": "the person, on the opt-in page",
    "system": "Chatrk",
}


@dataclass(frozen=True, slots=True)
class ProofRow:
    event: ConsentEvent
    state_after: str
    source: str
    captured_by: str
    wording: ConsentWording | None
    ip: str
    user_agent: str


def proof_rows(
    user: User, member: Membership, events: Sequence[ConsentEvent], *, origin: Origin, purpose: str
) -> list[ProofRow]:
    """``events`` (with ``wording`` selected) as rows to show; their IP and user agent revealed."""
    people = _member_names(member.workspace_id, events)
    holding = [e for e in events if e.ip is not None or e.user_agent is not None]
    opened = reveal(
        user, member, holding, ["ip", "user_agent"], perm=Perm.READ_CONSENT, origin=origin, purpose=purpose
    ) if holding else []  # fmt: skip
    secrets = {e.pk: values for e, values in zip(holding, opened, strict=True)}
    rows = []
    for event in events:
        values = secrets.get(event.pk, {})
        rows.append(
            ProofRow(
                event=event,
                state_after=str(STATUS_AFTER[event.kind]),
                source=Source(event.source).label if event.source in Source.values else event.source,
                captured_by=_captured_by(event, people),
                wording=event.wording,
                ip=str(values.get("ip") or ""),
                user_agent=str(values.get("user_agent") or ""),
            )
        )
    return rows


def _member_names(workspace_id: int, events: Sequence[ConsentEvent]) -> dict[str, str]:
    ids = {
        int(e.captured_by_id) for e in events if e.captured_by_kind == "user" and e.captured_by_id.isdigit()
    }
    if not ids:
        return {}
    rows = Membership.objects.for_workspace(workspace_id).filter(user_id__in=ids)
    return {str(user_id): name for user_id, name in rows.values_list("user_id", "user__name")}


def _captured_by(event: ConsentEvent, people: dict[str, str]) -> str:
    match event.captured_by_kind:
        case "user":
            return people.get(event.captured_by_id, f"former member #{event.captured_by_id}")
        case "token":
            return f"API token #{event.captured_by_id}"
        case kind:
            return _CAPTURED_BY.get(kind, kind)
