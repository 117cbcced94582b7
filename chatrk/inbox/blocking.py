"""Blocking a number: nothing more is stored from it and nothing is sent to it.

``block_contact`` / ``unblock_contact`` are the only writers of ``Contact.blocked_at`` (one transaction
and one audit event each). Enforcement lives where the data flows:

- inbound: the drainer asks ``blocked_senders`` once per batch and drops a blocked sender's messages
  before any Message row is written; the raw event is deleted with its batch (docs/admin-guide.md);
- outbound: ``outbound.gates.blocked_gate`` refuses every send (replies, templates, campaigns) and the
  sender skips rows queued before the block.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from chatrk.audit.actions import Actor, Origin, record
from chatrk.core.clock import now
from chatrk.crypto.blind import NormalisationError
from chatrk.inbox.errors import InboxError
from chatrk.inbox.events import publish
from chatrk.inbox.models import Contact

BLOCKED_REASON = (
    "This number is blocked in this workspace, so nothing can be sent to it. "
    "Unblock it from the contact panel first."
)
BLOCKED_BEFORE_SENDING = "The number was blocked before this message left, so it was not sent."


def block_contact(contact: Contact, *, actor: Actor, origin: Origin | None = None) -> Contact:
    """Blocks the contact's number from now on; blocking a blocked number changes nothing."""
    return _set_blocked(contact, blocked=True, actor=actor, origin=origin)


def unblock_contact(contact: Contact, *, actor: Actor, origin: Origin | None = None) -> Contact:
    """Lets the number write and be written to again (messages dropped meanwhile stay gone)."""
    return _set_blocked(contact, blocked=False, actor=actor, origin=origin)


def _set_blocked(contact: Contact, *, blocked: bool, actor: Actor, origin: Origin | None) -> Contact:
    with transaction.atomic():
        locked = (
            Contact.objects.select_for_update()
            .filter(workspace_id=contact.workspace_id, pk=contact.pk)
            .first()
        )
        if locked is None:
            raise InboxError("No such contact.")
        if (locked.blocked_at is not None) == blocked:
            return locked
        locked.blocked_at = now() if blocked else None
        locked.save(update_fields=["blocked_at"])
        record("contact.blocked" if blocked else "contact.unblocked", actor=actor,
               workspace_id=locked.workspace_id, target=("contact", locked.pk), origin=origin)  # fmt: skip
        publish(locked.workspace_id, "contact.updated", contact_id=locked.pk)
    return locked


def is_blocked(workspace_id: int, contact_id: int) -> bool:
    """Read from the database, never from a cached row (a block must take effect at once)."""
    return (
        Contact.objects.for_workspace(workspace_id).filter(pk=contact_id, blocked_at__isnull=False).exists()
    )


def blocked_senders(senders: Iterable[tuple[int, str]]) -> set[tuple[int, int]]:
    """For the drainer: of these (workspace id, WhatsApp id) pairs, the (workspace id, blind index)
    pairs that may belong to a blocked contact, in one indexed query. A hit is only a candidate (the
    index is truncated); ``blocked_sender`` confirms it by decrypting."""
    field = Contact._meta.get_field("wa_id_index")
    by_workspace: dict[int, set[str]] = {}
    for workspace_id, wa_id in senders:
        by_workspace.setdefault(workspace_id, set()).add(wa_id)
    found: set[tuple[int, int]] = set()
    for workspace_id, wa_ids in by_workspace.items():
        # Senders that are not phone numbers are left out: the drainer rejects their messages anyway.
        indexes = set(field.values_for(workspace_id, wa_ids).values())
        rows = Contact.objects.for_workspace(workspace_id).filter(
            wa_id_index__in=indexes, blocked_at__isnull=False
        )
        found.update((workspace_id, index) for index in rows.values_list("wa_id_index", flat=True))
    return found


def blocked_sender(candidates: set[tuple[int, int]], workspace_id: int, wa_id: str) -> Contact | None:
    """The blocked contact this sender is, if any; costs nothing unless its index is a candidate."""
    if not candidates:
        return None
    field = Contact._meta.get_field("wa_id_index")
    try:
        index = field.value_for(workspace_id, wa_id)
    except NormalisationError:
        return None
    if (workspace_id, index) not in candidates:
        return None
    from chatrk.crypto.queries import find_by_blind_index

    found = find_by_blind_index(Contact, workspace_id, "wa_id_index", wa_id)
    return next((contact for contact in found if contact.blocked_at is not None), None)
