"""The inbox's page queries: a page costs the same number of queries for 5 rows as for 50 (no N+1, keys
loaded in one query), and keyset pages neither repeat nor skip rows that share a sort time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Role
from chatrk.crypto import keyring
from chatrk.crypto.reveal import reveal
from chatrk.inbox import queries
from chatrk.inbox.models import Conversation, ConversationLabel, Label
from chatrk.inbox.queries import ConversationFilter
from chatrk.testing import add_member, make_channel, make_conversation, make_message, make_workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent() -> Membership:
    workspace = make_workspace()
    add_member(workspace, role=Role.OWNER)
    return add_member(workspace)


def inbox_of(agent: Membership, count: int) -> list[Conversation]:
    owner = Membership.objects.get(workspace_id=agent.workspace_id, role=Role.OWNER)
    channels = [make_channel(owner), make_channel(owner)]
    label = Label.objects.create(workspace_id=agent.workspace_id, name="vip", created_at=now())
    made = []
    for n in range(count):
        conversation = make_conversation(channels[n % 2], f"44770090{n:04d}", name=f"Customer {n}")
        conversation.assignee_id = agent.user_id if n % 2 else None
        conversation.save(update_fields=["assignee"])
        made.append(conversation)
    ConversationLabel.objects.bulk_create(
        ConversationLabel(workspace_id=agent.workspace_id, conversation=row, label=label) for row in made
    )
    return made


def queries_for(run: Callable[[], Any]) -> int:
    keyring.clear_cache()  # every page names contacts whose keys this process has not loaded yet
    with CaptureQueriesContext(connection) as ran:
        run()
    return len(ran)


@override_settings(CRYPTO_KEY_CACHE_SECONDS=60)
@pytest.mark.parametrize(
    "where",
    [
        ConversationFilter(),
        ConversationFilter(status="open"),
        ConversationFilter(unassigned=True),
        ConversationFilter(label_id=-1),  # replaced by the label's id below
    ],
    ids=["all", "status", "unassigned", "label"],
)
def test_a_list_page_costs_the_same_queries_for_5_or_50_rows(
    agent: Membership, where: ConversationFilter
) -> None:
    inbox_of(agent, 110)
    if where.label_id is not None:
        where = ConversationFilter(label_id=Label.objects.get(workspace_id=agent.workspace_id).pk)

    def shown(limit: int) -> Callable[[], list[tuple[Any, ...]]]:
        def run() -> list[tuple[Any, ...]]:
            page = queries.conversations(agent.workspace_id, where, limit=limit, cursor=None)
            names = reveal(agent.user, agent, [row.contact for row in page.rows], ["profile_name"])
            assert len(page.rows) == limit
            return [
                (row.number, row.channel.name, row.assignee and row.assignee.email, name["profile_name"])
                for row, name in zip(page.rows, names, strict=True)
            ]

        return run

    assert shown(5)()[0][3].startswith("Customer")
    assert queries_for(shown(5)) == queries_for(shown(50))


@override_settings(CRYPTO_KEY_CACHE_SECONDS=60)
def test_a_thread_page_costs_the_same_queries_for_5_or_50_messages(agent: Membership) -> None:
    [conversation] = inbox_of(agent, 1)
    start = now() - timedelta(hours=1)
    for n in range(60):
        make_message(conversation, f"message {n}", at=start + timedelta(seconds=n))

    def thread(limit: int) -> Callable[[], list[Any]]:
        def run() -> list[Any]:
            page = queries.messages(agent.workspace_id, conversation.pk, limit=limit, cursor=None)
            return [row["body"] for row in reveal(agent.user, agent, page.rows, ["body", "payload"])]

        return run

    assert thread(5)() == [f"message {n}" for n in range(59, 54, -1)]
    assert queries_for(thread(5)) == queries_for(thread(50))


def test_keyset_pages_keep_every_row_once_when_times_tie(agent: Membership) -> None:
    conversations = inbox_of(agent, 9)
    tied, earlier = now() - timedelta(minutes=5), now() - timedelta(hours=2)
    for n, row in enumerate(conversations):
        row.last_message_at = tied if n < 6 else earlier - timedelta(minutes=n)
        row.save(update_fields=["last_message_at"])
    expected = sorted(conversations, key=lambda row: (row.last_message_at, row.pk), reverse=True)
    seen: list[int] = []
    cursor = None
    while True:
        page = queries.conversations(agent.workspace_id, ConversationFilter(), limit=2, cursor=cursor)
        seen += [row.pk for row in page.rows]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [row.pk for row in expected]


def test_thread_pages_walk_back_through_messages_that_share_a_time(agent: Membership) -> None:
    [conversation] = inbox_of(agent, 1)
    same = now() - timedelta(minutes=1)
    made = [
        make_message(conversation, f"m{n}", at=same if n % 2 else same - timedelta(seconds=n))
        for n in range(7)
    ]
    expected = sorted(made, key=lambda row: (row.created_at, row.pk), reverse=True)
    first = queries.messages(agent.workspace_id, conversation.pk, limit=3, cursor=None)
    second = queries.messages(agent.workspace_id, conversation.pk, limit=3, cursor=first.next_cursor)
    third = queries.messages(agent.workspace_id, conversation.pk, limit=3, cursor=second.next_cursor)
    assert [row.pk for row in first.rows + second.rows + third.rows] == [row.pk for row in expected]
    assert third.next_cursor is None


def test_a_phone_search_lists_only_that_contacts_conversations(agent: Membership) -> None:
    conversations = inbox_of(agent, 4)
    [found] = queries.contacts_by_number(agent.workspace_id, "+44 7700 900002")
    where = ConversationFilter(contact_ids=(found.pk,))
    page = queries.conversations(agent.workspace_id, where, limit=50, cursor=None)
    assert [row.pk for row in page.rows] == [conversations[2].pk]
    nobody = ConversationFilter(contact_ids=())
    assert queries.conversations(agent.workspace_id, nobody, limit=50, cursor=None).rows == []


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's planner, which has no statistics")
def test_sqlite_finds_a_contact_by_number_through_both_columns_of_its_index(agent: Membership) -> None:
    inbox_of(agent, 2)
    with CaptureQueriesContext(connection) as ran:
        queries.contacts_by_number(agent.workspace_id, "+447700900001")
    [lookup] = [query["sql"] for query in ran if 'FROM "inbox_contact"' in query["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {lookup}")
        plan = " ".join(str(row[3]) for row in cursor.fetchall())
    assert "contact_by_wa_id" in plan


def test_no_message_index_is_a_prefix_of_another() -> None:
    """Each index costs every stored message an update; one that starts another serves nothing more."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "inbox_message")
    indexed = [
        tuple(c["columns"]) for c in constraints.values() if (c["index"] or c["unique"]) and c["columns"]
    ]
    covered = [
        (short, long)
        for short in indexed
        for long in indexed
        if short != long and long[: len(short)] == short
    ]
    assert not covered
