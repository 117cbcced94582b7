"""The drainer and the work on conversations: round-robin on a new thread, reopening on a new message."""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import patch

import pytest

from chatrk.audit.actions import SYSTEM, Origin
from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.inbox import work
from chatrk.inbox.actions import set_conversation_status
from chatrk.inbox.models import Channel, Conversation, Message
from chatrk.ingest.actions import drain
from chatrk.ingest.tests.conftest import make_channel, post
from chatrk.ingest.tests.test_drain import T0, envelope, text
from chatrk.testing import add_member, make_workspace

pytestmark = pytest.mark.django_db


def test_a_new_customer_on_a_round_robin_number_goes_to_the_next_member() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    agent = add_member(owner.workspace, role=Role.AGENT)
    channel = work.set_auto_assign(make_channel(workspace_owner=owner), True, actor=SYSTEM, origin=Origin())
    post(channel, envelope(channel, messages=[text("wamid.1", sender="16505551234")]))
    post(channel, envelope(channel, messages=[text("wamid.2", sender="16505550000", at=T0 + 1)]))
    post(channel, envelope(channel, messages=[text("wamid.3", sender="16505551234", at=T0 + 2)]))
    drain()
    rows = Conversation.objects.order_by("number")
    assert [c.assignee_id for c in rows] == [owner.user_id, agent.user_id]  # the third message: same thread
    assert Message.objects.filter(direction=Message.Direction.EVENT).count() == 2


def written_then(status: str) -> tuple[Channel, Conversation]:
    """A conversation the customer started, then set to ``status`` by the team."""
    channel = make_channel()
    post(channel, envelope(channel, messages=[text("wamid.1")]))
    drain()
    conversation = Conversation.objects.get()
    until = now() + timedelta(days=1) if status == "snoozed" else None
    set_conversation_status(conversation, status, snoozed_until=until, actor=SYSTEM, origin=Origin())
    return channel, conversation


@pytest.mark.parametrize("status", ["snoozed", "resolved", "pending"])
def test_a_new_message_reopens_a_snoozed_or_resolved_conversation(status: str) -> None:
    channel, conversation = written_then(status)
    post(channel, envelope(channel, messages=[text("wamid.2", at=T0 + 5)]))
    drain()
    conversation.refresh_from_db()
    expected = "pending" if status == "pending" else "open"  # pending waits on the business, not the customer
    assert (conversation.status, conversation.snoozed_until) == (expected, None)


def _reopens() -> list[tuple[str, str, str, dict[str, object]]]:
    rows = AuditEvent.objects.filter(action="conversation.status_changed", reason="customer wrote")
    return [(e.actor_kind, e.target_kind, e.target_id, e.details) for e in rows.order_by("id")]


@pytest.mark.parametrize("status", ["snoozed", "resolved"])
def test_reopening_on_a_new_message_is_audited_once_per_batch(status: str) -> None:
    channel, conversation = written_then(status)
    post(channel, envelope(channel, messages=[text("wamid.2", at=T0 + 5)]))
    post(channel, envelope(channel, messages=[text("wamid.3", at=T0 + 6)]))
    post(channel, envelope(channel, messages=[text("wamid.2", at=T0 + 5)]))  # Meta's redelivery
    drain()
    drain()
    assert _reopens() == [("system", "conversation", str(conversation.pk), {"from": status, "to": "open"})]
    assert AuditEvent.objects.get(reason="customer wrote").workspace_id == channel.workspace_id


@pytest.mark.parametrize("status", ["open", "pending"])
def test_a_new_message_that_changes_no_status_is_not_audited(status: str) -> None:
    channel, _ = written_then(status)
    post(channel, envelope(channel, messages=[text("wamid.2", at=T0 + 5)]))
    drain()
    assert _reopens() == []


def test_a_reopening_rolls_back_with_its_batch() -> None:
    channel, conversation = written_then("resolved")
    post(channel, envelope(channel, messages=[text("wamid.2", at=T0 + 5)]))
    with patch("chatrk.ingest.actions._delete_applied", side_effect=RuntimeError("crash")):
        drain(max_batches=1)  # the batch fails, then each event is applied on its own
    assert len(_reopens()) == 1
    conversation.refresh_from_db()
    assert conversation.status == "open"
