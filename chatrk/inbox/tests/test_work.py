"""Working a conversation: round-robin, thread events, labels, snooze and its wake-up, transcripts."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper

from chatrk.audit.actions import SYSTEM, Actor, Origin
from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Perm, Role
from chatrk.crypto.actions import SubjectRef, shred_subject
from chatrk.crypto.reveal import reveal
from chatrk.inbox import queries, work
from chatrk.inbox.actions import assign_conversation, contact_for, conversation_for, set_conversation_status
from chatrk.inbox.errors import InboxError
from chatrk.inbox.live import current_mark
from chatrk.inbox.models import Channel, Conversation, ConversationLabel, Label, Message
from chatrk.testing import (
    add_member,
    make_channel,
    make_conversation,
    make_message,
    make_user,
    make_workspace,
)

pytestmark = pytest.mark.django_db

ORIGIN = Origin()


def thread_events(conversation: Conversation) -> list[str]:
    rows = Message.objects.filter(conversation=conversation, direction=Message.Direction.EVENT)
    from chatrk.crypto.fields import open_for_system

    return [open_for_system(row, "body") for row in rows.order_by("created_at", "pk")]


def rota_channel(owner: Membership) -> Channel:
    channel = make_channel(owner)
    return work.set_auto_assign(channel, True, actor=Actor.user(owner.user_id), origin=ORIGIN)


# --- round-robin ------------------------------------------------------------------------------------


def test_round_robin_takes_repliers_in_a_stable_order_and_skips_those_who_cannot() -> None:
    owner = add_member(make_workspace(), make_user(name="Olu Owner"), Role.OWNER)
    ana = add_member(owner.workspace, make_user(name="Ana Agent"), Role.AGENT)
    add_member(owner.workspace, make_user(name="Mo Marketer"), Role.MARKETER)  # may not reply
    bo = add_member(owner.workspace, make_user(name="Bo Agent"), Role.AGENT)
    gone = add_member(owner.workspace, make_user(name="Cy Gone"), Role.AGENT)
    gone.user.is_active = False
    gone.user.save()
    channel = rota_channel(owner)
    made = [make_conversation(channel) for _ in range(4)]
    assert [c.assignee_id for c in made] == [owner.user_id, ana.user_id, bo.user_id, owner.user_id]
    assert [c.assignee_id for c in Conversation.objects.order_by("number")] == [c.assignee_id for c in made]
    assert thread_events(made[1]) == ["Assigned to Ana Agent (round-robin)"]
    channel.refresh_from_db()
    assert channel.last_auto_assignee_id == owner.user_id
    audited = AuditEvent.objects.filter(action="conversation.assigned", reason="round-robin")
    assert audited.count() == 4 and {e.actor_kind for e in audited} == {"system"}


def test_the_rota_keeps_its_place_when_the_last_assignee_leaves() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    ana = add_member(owner.workspace, role=Role.AGENT)
    bo = add_member(owner.workspace, role=Role.AGENT)
    channel = rota_channel(owner)
    make_conversation(channel)  # owner
    assert make_conversation(channel).assignee_id == ana.user_id
    ana.delete()
    assert make_conversation(channel).assignee_id == bo.user_id


def test_without_auto_assign_or_anyone_to_assign_new_conversations_stay_unassigned() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    channel = make_channel(owner)
    assert make_conversation(channel).assignee_id is None
    lonely = add_member(make_workspace(), role=Role.MARKETER)
    marketing_only = rota_channel(lonely)
    assert make_conversation(marketing_only).assignee_id is None
    assert Message.objects.filter(direction=Message.Direction.EVENT).count() == 0


def test_an_existing_conversation_is_not_assigned_again() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    ana = add_member(owner.workspace, role=Role.AGENT)
    channel = rota_channel(owner)
    first = make_conversation(channel, "16505550001")
    again = conversation_for(channel, contact_for(channel.workspace_id, "16505550001"))
    assert again.pk == first.pk and again.assignee_id == owner.user_id
    assert make_conversation(channel).assignee_id == ana.user_id


def test_turning_auto_assign_off_is_seen_even_through_a_stale_channel_object() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    channel = rota_channel(owner)
    stale = Channel.objects.get(pk=channel.pk)
    work.set_auto_assign(channel, False, actor=SYSTEM, origin=ORIGIN)
    assert stale.auto_assign
    assert make_conversation(stale).assignee_id is None


def _new_conversations(channel_id: int, count: int, errors: list[BaseException]) -> None:
    try:
        channel = Channel.objects.get(pk=channel_id)
        for _ in range(count):
            make_conversation(channel)
    except BaseException as error:  # reported to the main thread
        errors.append(error)
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_two_drainers_creating_conversations_at_once_share_them_out_evenly() -> None:
    database = connections["default"]
    if isinstance(database, SQLiteWrapper) and database.is_in_memory_db():
        pytest.skip("an in-memory SQLite test database cannot host concurrent connections")
    owner = add_member(make_workspace(), role=Role.OWNER)
    add_member(owner.workspace, role=Role.AGENT)
    channel = rota_channel(owner)
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_new_conversations, args=(channel.pk, 5, errors)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assignees = list(Conversation.objects.order_by("number").values_list("assignee_id", flat=True))
    assert len(assignees) == 10
    assert assignees.count(owner.user_id) == 5  # strict alternation: no turn was handed out twice
    assert all(a != b for a, b in itertools.pairwise(assignees))


# --- assignment and status events -------------------------------------------------------------------


def test_assignment_and_status_changes_write_events_in_the_thread() -> None:
    owner = add_member(make_workspace(), make_user(name="Olu Owner"), Role.OWNER)
    ana = add_member(owner.workspace, make_user(name="Ana Agent"), Role.AGENT)
    conversation = make_conversation(make_channel(owner))
    by = Actor.user(owner.user_id)
    before = current_mark(owner.workspace_id)
    assign_conversation(conversation, ana, actor=by, origin=ORIGIN)
    assert current_mark(owner.workspace_id) != before  # the open inboxes' live poll sees it
    assign_conversation(conversation, ana, actor=by, origin=ORIGIN)  # no change: no second event
    until = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
    set_conversation_status(conversation, "snoozed", snoozed_until=until, actor=by, origin=ORIGIN)
    set_conversation_status(conversation, "resolved", actor=Actor.token(7), origin=ORIGIN)
    assign_conversation(conversation, None, actor=SYSTEM, origin=ORIGIN)
    assert thread_events(conversation) == [
        "Assigned to Ana Agent by Olu Owner",
        "Snoozed until 02 Jan 2030 09:00 UTC by Olu Owner",
        "Resolved by an API token",
        "Unassigned",
    ]
    first = Message.objects.filter(direction=Message.Direction.EVENT).order_by("created_at").first()
    assert first is not None and first.sent_by_id == owner.user_id and first.status == Message.Status.LOGGED
    assert AuditEvent.objects.filter(action="conversation.assigned").count() == 2


# --- labels -------------------------------------------------------------------------------------------


def test_labels_are_named_once_per_workspace_and_renamed_and_deleted() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    ws = owner.workspace_id
    vip = work.create_label(ws, "  VIP   customer ", actor=SYSTEM, origin=ORIGIN)
    assert vip.name == "VIP customer"
    for bad, message in [("vip CUSTOMER", "already"), ("", "needs a name"), ("x" * 41, "at most 40")]:
        with pytest.raises(InboxError, match=message):
            work.create_label(ws, bad, actor=SYSTEM, origin=ORIGIN)
    other = work.create_label(ws, "billing", actor=SYSTEM, origin=ORIGIN)
    with pytest.raises(InboxError, match="already"):
        work.rename_label(other, "Vip Customer", actor=SYSTEM, origin=ORIGIN)
    assert work.rename_label(vip, "vip", actor=SYSTEM, origin=ORIGIN).name == "vip"
    assert work.create_label(add_member(make_workspace()).workspace_id, "vip", actor=SYSTEM, origin=ORIGIN)
    conversation = make_conversation(make_channel(owner))
    work.add_label(conversation, other, actor=SYSTEM, origin=ORIGIN)
    work.delete_label(other, actor=SYSTEM, origin=ORIGIN)
    assert ConversationLabel.objects.count() == 0 and Conversation.objects.filter(pk=conversation.pk).exists()
    labels = AuditEvent.objects.filter(target_kind="label").order_by("seq")
    assert list(labels.values_list("action", flat=True)) == [
        "label.created", "label.created", "label.renamed", "label.created", "label.deleted",
    ]  # fmt: skip


@pytest.mark.parametrize(("first", "second"), [("Été", "été"), ("STRASSE", "straße"), ("ﬁles", "Files")])
def test_label_names_differing_only_in_case_are_one_label_on_every_engine(first: str, second: str) -> None:
    ws = add_member(make_workspace()).workspace_id
    label = work.create_label(ws, first, actor=SYSTEM, origin=ORIGIN)
    with pytest.raises(InboxError, match="already"):
        work.create_label(ws, second, actor=SYSTEM, origin=ORIGIN)
    other = work.create_label(ws, "other", actor=SYSTEM, origin=ORIGIN)
    with pytest.raises(InboxError, match="already"):
        work.rename_label(other, second, actor=SYSTEM, origin=ORIGIN)
    assert work.rename_label(label, second, actor=SYSTEM, origin=ORIGIN).name == second  # its own spelling


def test_the_database_refuses_a_label_differing_only_in_case() -> None:
    """Two members creating "VIP" and "vip" at once both pass the look-up; the unique key stops one."""
    ws = add_member(make_workspace()).workspace_id
    work.create_label(ws, "VIP", actor=SYSTEM, origin=ORIGIN)
    with (
        mock.patch.object(work, "_name_taken", return_value=False),
        pytest.raises(InboxError, match="already"),
    ):
        work.create_label(ws, "vip", actor=SYSTEM, origin=ORIGIN)
    assert [label.name for label in Label.objects.filter(workspace_id=ws)] == ["VIP"]


def test_labels_go_on_and_off_conversations_once_and_filter_the_inbox() -> None:
    owner = add_member(make_workspace(), make_user(name="Olu Owner"), Role.OWNER)
    channel = make_channel(owner)
    tagged, plain = make_conversation(channel), make_conversation(channel)
    billing = work.create_label(owner.workspace_id, "billing", actor=SYSTEM, origin=ORIGIN)
    by = Actor.user(owner.user_id)
    assert work.add_label(tagged, billing, actor=by, origin=ORIGIN)
    assert not work.add_label(tagged, billing, actor=by, origin=ORIGIN)
    assert [label.name for label in work.labels_of(tagged)] == ["billing"]
    found = queries.conversations(owner.workspace_id, queries.ConversationFilter(label_id=billing.pk),
                                  limit=10, cursor=None)  # fmt: skip
    assert [c.pk for c in found.rows] == [tagged.pk]
    assert plain.pk not in [c.pk for c in found.rows]
    assert work.remove_label(tagged, billing, actor=by, origin=ORIGIN)
    assert not work.remove_label(tagged, billing, actor=by, origin=ORIGIN)
    assert thread_events(tagged) == [
        "Label “billing” added by Olu Owner",
        "Label “billing” removed by Olu Owner",
    ]
    empty = queries.conversations(owner.workspace_id, queries.ConversationFilter(label_id=billing.pk),
                                  limit=10, cursor=None)  # fmt: skip
    assert empty.rows == []


def test_a_label_of_another_workspace_never_goes_on_a_conversation() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    conversation = make_conversation(make_channel(owner))
    foreign = work.create_label(add_member(make_workspace()).workspace_id, "x", actor=SYSTEM, origin=ORIGIN)
    with pytest.raises(InboxError):
        work.add_label(conversation, foreign, actor=SYSTEM, origin=ORIGIN)
    assert ConversationLabel.objects.count() == 0
    other_filter = queries.ConversationFilter(label_id=foreign.pk)
    ConversationLabel.objects.create(
        workspace_id=foreign.workspace_id, conversation=conversation, label=foreign
    )
    assert queries.conversations(owner.workspace_id, other_filter, limit=5, cursor=None).rows == []


# --- snooze -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "at", "until"),
    [
        ("1h", datetime(2026, 12, 2, 15, 30, tzinfo=UTC), datetime(2026, 12, 2, 16, 30, tzinfo=UTC)),
        ("tomorrow", datetime(2026, 12, 2, 23, 59, tzinfo=UTC), datetime(2026, 12, 3, 9, 0, tzinfo=UTC)),
        ("tomorrow", datetime(2026, 12, 31, 8, 0, tzinfo=UTC), datetime(2027, 1, 1, 9, 0, tzinfo=UTC)),
        ("next-week", datetime(2026, 12, 2, 15, 30, tzinfo=UTC), datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
        ("next-week", datetime(2026, 12, 7, 8, 0, tzinfo=UTC), datetime(2026, 12, 14, 9, 0, tzinfo=UTC)),
        ("next-week", datetime(2026, 12, 6, 20, 0, tzinfo=UTC), datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
    ],
)
def test_snooze_presets_end_at_the_promised_moment(preset: str, at: datetime, until: datetime) -> None:
    assert work.snooze_moment(preset, at=at) == until


def test_an_unknown_preset_is_refused() -> None:
    with pytest.raises(InboxError, match="how long"):
        work.snooze_moment("forever")


def test_snoozed_conversations_wake_when_their_time_comes_and_only_then() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    channel = make_channel(owner)
    soon, later, reopened = (make_conversation(channel) for _ in range(3))
    for conversation, hours in ((soon, 1), (later, 5), (reopened, 1)):
        set_conversation_status(conversation, "snoozed", snoozed_until=now() + timedelta(hours=hours),
                                actor=SYSTEM, origin=ORIGIN)  # fmt: skip
    set_conversation_status(reopened, "open", actor=SYSTEM, origin=ORIGIN)
    assert work.wake_snoozed() == 0
    with time_machine.travel(now() + timedelta(hours=2)):
        assert work.wake_snoozed() == 1
        assert work.wake_snoozed() == 0  # idempotent
    soon.refresh_from_db()
    later.refresh_from_db()
    assert (soon.status, soon.snoozed_until) == ("open", None)
    assert later.status == "snoozed"
    assert thread_events(soon)[-1] == "Snooze ended: reopened"
    assert AuditEvent.objects.filter(action="conversation.status_changed", reason="snooze ended").count() == 1


def test_the_wake_up_task_is_scheduled_every_minute_and_reopens() -> None:
    from django.conf import settings

    from chatrk.inbox.tasks import wake_snoozed_conversations

    assert settings.PERIODIC_TASKS["chatrk.inbox.tasks.wake_snoozed_conversations"] == 1
    conversation = make_conversation(make_channel(add_member(make_workspace(), role=Role.OWNER)))
    set_conversation_status(conversation, "snoozed", snoozed_until=now() + timedelta(minutes=1),
                            actor=SYSTEM, origin=ORIGIN)  # fmt: skip
    with time_machine.travel(now() + timedelta(minutes=2)):
        wake_snoozed_conversations.call()
    conversation.refresh_from_db()
    assert conversation.status == "open"


# --- transcripts ---------------------------------------------------------------------------------------


def _reader(member: Membership) -> work.Reader:
    return lambda rows: reveal(member.user, member, rows, ["body"], perm=Perm.EXPORT_TRANSCRIPTS,
                               purpose="transcript")  # fmt: skip


def test_a_transcript_holds_the_whole_thread_in_order_through_audited_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(work, "TRANSCRIPT_CHUNK", 2)  # several audited reads, and the keyset between them
    owner = add_member(make_workspace(), make_user(name="Olu Owner"), Role.OWNER)
    conversation = make_conversation(make_channel(owner), "447700900123", name="Valentina")
    start = now() - timedelta(minutes=10)
    make_message(conversation, "<b>hi</b> I need help", at=start)
    assign_conversation(conversation, owner, actor=Actor.user(owner.user_id), origin=ORIGIN)
    reply = make_message(conversation, "Happy to help", direction="out", at=start + timedelta(minutes=1))
    Message.objects.filter(pk=reply.pk).update(sent_by=owner.user)
    make_message(conversation, "thanks", at=start + timedelta(minutes=2))
    found = work.transcript(conversation, read=_reader(owner), actor=Actor.user(owner.user_id),
                            export_format="text", origin=ORIGIN)  # fmt: skip
    text = work.transcript_text(found)
    assert [line.speaker for line in found.lines] == ["Customer", "Olu Owner", "Customer", "Event"]
    assert "Customer: <b>hi</b> I need help" in text and "Event: Olu Owner took the conversation" in text
    assert text.startswith(f"Conversation #{conversation.number}\n")
    assert "447700900123" not in text and "Valentina" not in text  # the thread only, not the contact
    data = work.transcript_json(found)
    assert data["conversation_id"] == str(conversation.pk) and len(data["messages"]) == 4
    assert AuditEvent.objects.filter(action="crypto.reveal", details__purpose="transcript").count() == 2
    exported = AuditEvent.objects.get(action="conversation.transcript_exported")
    assert exported.details == {"format": "text", "messages": 4}
    assert (
        work.transcript_filename(conversation, "txt") == f"conversation-{conversation.number}-transcript.txt"
    )


def test_an_erased_contacts_transcript_says_erased() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    conversation = make_conversation(make_channel(owner))
    make_message(conversation, "secret")
    shred_subject(owner.workspace_id, SubjectRef("contact", conversation.contact_id), actor=SYSTEM)
    found = work.transcript(
        conversation, read=_reader(owner), actor=SYSTEM, export_format="json", origin=ORIGIN
    )
    assert [line.text for line in found.lines] == ["[erased]"]


def test_a_member_without_the_right_gets_no_transcript_and_the_refusal_is_audited() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    agent = add_member(owner.workspace, role=Role.AGENT)
    conversation = make_conversation(make_channel(owner))
    make_message(conversation, "secret")
    with pytest.raises(PermissionDenied):
        work.transcript(conversation, read=_reader(agent), actor=Actor.user(agent.user_id),
                        export_format="text", origin=ORIGIN)  # fmt: skip
    assert not AuditEvent.objects.filter(action="conversation.transcript_exported").exists()
    assert AuditEvent.objects.filter(action="crypto.reveal", outcome="denied").count() == 1
