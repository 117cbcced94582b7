"""The tools beside a thread, the labels page and the round-robin switch, as members use them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from chatrk.audit.actions import SYSTEM, Origin
from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Role
from chatrk.crypto.fields import open_for_system
from chatrk.inbox import work
from chatrk.inbox.models import Channel, Conversation, ConversationLabel, Label, Message
from chatrk.testing import (
    add_member,
    make_channel,
    make_conversation,
    make_message,
    make_user,
    make_workspace,
    signed_in,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def owner() -> Membership:
    return add_member(make_workspace("Harbour Books"), make_user(name="Olu Owner"), Role.OWNER)


@pytest.fixture
def conversation(owner: Membership) -> Conversation:
    found = make_conversation(make_channel(owner), "447700900123", name="Valentina")
    make_message(found, "Where is my order?")
    return found


def url(member: Membership, conversation: Conversation, rest: str = "work/") -> str:
    return f"/w/{member.workspace.slug}/inbox/c/{conversation.pk}/{rest}"


def events_of(conversation: Conversation) -> list[str]:
    rows = Message.objects.filter(conversation=conversation, direction=Message.Direction.EVENT)
    return [open_for_system(row, "body") for row in rows.order_by("created_at", "pk")]


def test_the_tools_page_shows_state_and_forms_and_htmx_gets_the_partial(
    owner: Membership, conversation: Conversation
) -> None:
    client = signed_in(owner.user)
    page = client.get(url(owner, conversation))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<html" in html and f"Conversation #{conversation.number}" in html
    for text in ("Assign to me", "Resolve", "Snooze", "Download transcript (text)", "Status: <strong>Open"):
        assert text in html
    partial = client.get(url(owner, conversation), headers=HTMX).content.decode()
    assert "<html" not in partial and 'id="work-tools"' in partial


def test_assign_to_me_then_to_another_then_to_nobody(owner: Membership, conversation: Conversation) -> None:
    ana = add_member(owner.workspace, make_user(name="Ana Agent"), Role.AGENT)
    marketer = add_member(owner.workspace, make_user(name="Mo Marketer"), Role.MARKETER)
    client = signed_in(owner.user)
    done = client.post(url(owner, conversation, "work/assign/"), {"member_id": "me"})
    assert done.status_code == 302  # back to the thread page
    assert done["Location"] == url(owner, conversation, "")
    conversation.refresh_from_db()
    assert conversation.assignee_id == owner.user_id
    swapped = client.post(url(owner, conversation, "work/assign/"), {"member_id": str(ana.pk)}, headers=HTMX)
    assert (
        swapped.status_code == 200 and "Assigned to: <strong>Ana Agent</strong>" in swapped.content.decode()
    )
    refused = client.post(url(owner, conversation, "work/assign/"), {"member_id": str(marketer.pk)})
    assert refused.status_code == 400 and "cannot answer conversations" in refused.content.decode()
    for nonsense in ("abc", "99999999", "-1"):
        assert (
            client.post(url(owner, conversation, "work/assign/"), {"member_id": nonsense}).status_code == 400
        )
    client.post(url(owner, conversation, "work/assign/"), {"member_id": ""})
    conversation.refresh_from_db()
    assert conversation.assignee_id is None
    assert events_of(conversation) == [
        "Olu Owner took the conversation", "Assigned to Ana Agent by Olu Owner", "Unassigned by Olu Owner",
    ]  # fmt: skip


def test_a_member_of_another_workspace_cannot_be_assigned(
    owner: Membership, conversation: Conversation
) -> None:
    stranger = add_member(make_workspace(), role=Role.AGENT)
    response = signed_in(owner.user).post(
        url(owner, conversation, "work/assign/"), {"member_id": str(stranger.pk)}
    )
    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.assignee_id is None


def test_resolve_reopen_pending_and_a_bad_status(owner: Membership, conversation: Conversation) -> None:
    client = signed_in(owner.user)
    for status in ("resolved", "open", "pending"):
        assert client.post(url(owner, conversation, "work/status/"), {"status": status}).status_code == 302
        conversation.refresh_from_db()
        assert conversation.status == status
    assert client.post(url(owner, conversation, "work/status/"), {"status": "snoozed"}).status_code == 400
    assert client.post(url(owner, conversation, "work/status/"), {"status": "<x>"}).status_code == 400
    assert events_of(conversation) == [
        "Resolved by Olu Owner",
        "Reopened by Olu Owner",
        "Marked pending by Olu Owner",
    ]


def test_snooze_by_preset_or_chosen_moment_and_refuse_the_past(
    owner: Membership, conversation: Conversation
) -> None:
    client = signed_in(owner.user)
    before = now()
    assert client.post(url(owner, conversation, "work/snooze/"), {"preset": "1h"}).status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == "snoozed" and conversation.snoozed_until is not None
    assert timedelta(minutes=59) < conversation.snoozed_until - before < timedelta(minutes=61)
    chosen = {
        "preset": "custom",
        "until": "2031-03-04T10:15",
    }  # a datetime-local value: UTC, as the form says
    page = client.post(url(owner, conversation, "work/snooze/"), chosen, headers=HTMX).content.decode()
    conversation.refresh_from_db()
    assert conversation.snoozed_until == datetime(2031, 3, 4, 10, 15, tzinfo=UTC)
    assert "until <time" in page and "4 Mar 2031 10:15 UTC" in page
    for bad in ({"preset": "custom", "until": "2001-01-01T00:00"}, {"preset": "custom", "until": "soon"},
                {"preset": "forever"}, {}):  # fmt: skip
        response = client.post(url(owner, conversation, "work/snooze/"), bad)
        assert response.status_code == 400 and 'role="alert"' in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.snoozed_until == datetime(2031, 3, 4, 10, 15, tzinfo=UTC)  # bad input changed nothing


def test_labels_are_added_and_removed_and_shown_escaped(
    owner: Membership, conversation: Conversation
) -> None:
    label = work.create_label(owner.workspace_id, "<script>vip</script>", actor=SYSTEM, origin=Origin())
    client = signed_in(owner.user)
    page = client.post(url(owner, conversation, "work/labels/"), {"label_id": str(label.pk)}, headers=HTMX)
    html = page.content.decode()
    assert (
        page.status_code == 200 and "&lt;script&gt;vip&lt;/script&gt;" in html and "<script>vip" not in html
    )
    assert ConversationLabel.objects.filter(conversation=conversation, label=label).exists()
    assert client.post(url(owner, conversation, "work/labels/"), {"label_id": "42"}).status_code == 400
    removed = client.post(url(owner, conversation, f"work/labels/{label.pk}/remove/"))
    assert removed.status_code == 302 and not ConversationLabel.objects.exists()


def test_a_label_of_another_workspace_is_neither_added_nor_removed(
    owner: Membership, conversation: Conversation
) -> None:
    foreign = work.create_label(make_workspace().pk, "theirs", actor=SYSTEM, origin=Origin())
    client = signed_in(owner.user)
    assert (
        client.post(url(owner, conversation, "work/labels/"), {"label_id": str(foreign.pk)}).status_code
        == 400
    )
    assert client.post(url(owner, conversation, f"work/labels/{foreign.pk}/remove/")).status_code == 404
    assert not ConversationLabel.objects.exists()


def test_roles_decide_what_the_tools_offer(owner: Membership, conversation: Conversation) -> None:
    agent = add_member(owner.workspace, role=Role.AGENT)
    compliance = add_member(owner.workspace, role=Role.COMPLIANCE)
    marketer = add_member(owner.workspace, role=Role.MARKETER)
    agent_page = signed_in(agent.user).get(url(agent, conversation)).content.decode()
    assert "Assign to me" in agent_page and "Download transcript" not in agent_page
    assert signed_in(agent.user).get(url(agent, conversation, "transcript.txt")).status_code == 403
    officer = signed_in(compliance.user)
    officer_page = officer.get(url(compliance, conversation)).content.decode()
    assert "Assign to me" not in officer_page and "Download transcript (text)" in officer_page
    assert (
        officer.post(url(compliance, conversation, "work/status/"), {"status": "resolved"}).status_code == 403
    )
    assert signed_in(marketer.user).get(url(marketer, conversation)).status_code == 403
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_transcripts_download_without_personal_data_in_the_name_and_are_audited(
    owner: Membership, conversation: Conversation
) -> None:
    client = signed_in(owner.user)
    text = client.get(url(owner, conversation, "transcript.txt"))
    assert text.status_code == 200 and text["Cache-Control"] == "no-store"
    assert text["Content-Type"] == "text/plain; charset=utf-8"
    disposition = text["Content-Disposition"]
    assert disposition == f'attachment; filename="conversation-{conversation.number}-transcript.txt"'
    assert "Customer: Where is my order?" in text.content.decode()
    data = json.loads(client.get(url(owner, conversation, "transcript.json")).content)
    assert data["messages"][0]["text"] == "Where is my order?" and data["conversation_id"] == str(
        conversation.pk
    )
    exports = AuditEvent.objects.filter(action="conversation.transcript_exported").order_by("seq", "pk")
    assert [e.details["format"] for e in exports] == ["text", "json"]
    assert all(e.actor_id == str(owner.user_id) for e in exports)


def test_the_labels_page_creates_renames_and_deletes(owner: Membership) -> None:
    client = signed_in(owner.user)
    base = f"/w/{owner.workspace.slug}/labels/"
    assert client.get(base).status_code == 200
    created = client.post(f"{base}create/", {"name": "billing"})
    assert created.status_code == 200 and "Label “billing” created." in created.content.decode()
    label = Label.objects.get(workspace=owner.workspace)
    duplicate = client.post(f"{base}create/", {"name": "BILLING"})
    assert duplicate.status_code == 400 and "already a label" in duplicate.content.decode()
    assert client.post(f"{base}{label.pk}/rename/", {"name": "  "}).status_code == 400
    assert client.post(f"{base}{label.pk}/rename/", {"name": "invoices"}).status_code == 200
    label.refresh_from_db()
    assert label.name == "invoices"
    assert client.post(f"{base}{label.pk}/delete/").status_code == 200
    assert not Label.objects.exists()


def test_agents_do_not_manage_labels_or_round_robin(owner: Membership) -> None:
    agent = add_member(owner.workspace, role=Role.AGENT)
    channel = make_channel(owner)
    client = signed_in(agent.user)
    assert client.get(f"/w/{owner.workspace.slug}/labels/").status_code == 403
    assert client.post(f"/w/{owner.workspace.slug}/labels/create/", {"name": "x"}).status_code == 403
    assert (
        client.post(
            f"/w/{owner.workspace.slug}/channels/{channel.pk}/auto-assign/", {"enabled": "on"}
        ).status_code
        == 403
    )
    assert not Label.objects.exists() and not Channel.objects.get(pk=channel.pk).auto_assign


def test_round_robin_is_switched_on_and_off_from_the_channels_page(owner: Membership) -> None:
    channel = make_channel(owner)
    client: Client = signed_in(owner.user)
    switch = f"/w/{owner.workspace.slug}/channels/{channel.pk}/auto-assign/"
    assert (
        "Assign new conversations in turn"
        in client.get(f"/w/{owner.workspace.slug}/channels/").content.decode()
    )
    assert client.post(switch, {"enabled": "on"}).status_code == 302
    assert Channel.objects.get(pk=channel.pk).auto_assign
    assert "Stop round-robin" in client.get(f"/w/{owner.workspace.slug}/channels/").content.decode()
    client.post(switch, {"enabled": "off"})
    assert not Channel.objects.get(pk=channel.pk).auto_assign
    changes = AuditEvent.objects.filter(action="channel.auto_assign_changed").order_by("seq", "pk")
    assert [e.details["enabled"] for e in changes] == [True, False]


def test_read_receipts_are_on_by_default_and_an_admin_switches_them_off_audited(owner: Membership) -> None:
    channel = make_channel(owner)
    assert Channel.objects.get(pk=channel.pk).send_read_receipts  # businesses expect blue ticks
    client: Client = signed_in(owner.user)
    page = f"/w/{owner.workspace.slug}/channels/"
    switch = f"/w/{owner.workspace.slug}/channels/{channel.pk}/read-receipts/"
    assert "Stop read receipts" in client.get(page).content.decode()
    assert client.post(switch, {"enabled": "off"}).status_code == 302
    assert not Channel.objects.get(pk=channel.pk).send_read_receipts
    assert "Send read receipts" in client.get(page).content.decode()
    client.post(switch, {"enabled": "on"})
    assert Channel.objects.get(pk=channel.pk).send_read_receipts
    changes = AuditEvent.objects.filter(action="channel.read_receipts_changed").order_by("seq", "pk")
    assert [e.details["enabled"] for e in changes] == [False, True]
    assert all(e.actor_id == str(owner.user_id) for e in changes)


def test_agents_and_other_workspaces_cannot_switch_read_receipts(owner: Membership) -> None:
    channel = make_channel(owner)
    switch = f"/w/{owner.workspace.slug}/channels/{channel.pk}/read-receipts/"
    agent = add_member(owner.workspace, role=Role.AGENT)
    assert signed_in(agent.user).post(switch, {"enabled": "off"}).status_code == 403
    stranger = add_member(make_workspace("Other"), role=Role.OWNER)
    theirs = f"/w/{stranger.workspace.slug}/channels/{channel.pk}/read-receipts/"
    assert signed_in(stranger.user).post(theirs, {"enabled": "off"}).status_code == 404
    assert Channel.objects.get(pk=channel.pk).send_read_receipts
    assert not AuditEvent.objects.filter(action="channel.read_receipts_changed").exists()
