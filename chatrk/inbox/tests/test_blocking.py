"""Block and unblock: one audited change each, idempotent, scoped to the contact's workspace."""

from __future__ import annotations

import pytest

from chatrk.audit.actions import Actor
from chatrk.audit.models import AuditEvent
from chatrk.core.roles import Role
from chatrk.inbox.blocking import block_contact, is_blocked, unblock_contact
from chatrk.inbox.errors import InboxError
from chatrk.inbox.models import Contact
from chatrk.testing import add_member, make_channel, make_conversation, make_workspace

pytestmark = pytest.mark.django_db


def contact() -> Contact:
    owner = add_member(make_workspace(), role=Role.OWNER)
    return Contact.objects.get(pk=make_conversation(make_channel(owner), "447700900123").contact_id)


def test_block_then_unblock_records_each_change_once() -> None:
    person = contact()
    blocked = block_contact(person, actor=Actor.user(7))
    again = block_contact(person, actor=Actor.user(7))
    assert blocked.blocked_at is not None and again.blocked_at == blocked.blocked_at
    assert is_blocked(person.workspace_id, person.pk)
    unblock_contact(person, actor=Actor.user(7))
    assert not is_blocked(person.workspace_id, person.pk)
    actions = list(
        AuditEvent.objects.filter(target_id=str(person.pk), action__startswith="contact.")
        .order_by("seq")
        .values_list("action", "actor_id")
    )
    assert actions == [("contact.blocked", "7"), ("contact.unblocked", "7")]


def test_a_contact_object_claiming_another_workspace_is_refused() -> None:
    person = contact()
    forged = Contact(pk=person.pk, workspace_id=make_workspace("Other").pk)
    with pytest.raises(InboxError):
        block_contact(forged, actor=Actor.user(7))
    assert not is_blocked(person.workspace_id, person.pk)
    assert not is_blocked(forged.workspace_id, person.pk)
