"""Migration 0011: labels differing only in case are merged into the first created."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from chatrk.core.clock import now
from chatrk.inbox.models import ConversationLabel, Label
from chatrk.testing import add_member, make_channel, make_conversation, make_workspace

BEFORE = [("inbox", "0010_note_key")]
AFTER = [("inbox", "0011_label_name_key")]


def migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_labels_differing_only_in_case_are_merged_into_the_first() -> None:
    owner = add_member(make_workspace())
    ws = owner.workspace_id
    channel = make_channel(owner)
    both, only_later = make_conversation(channel), make_conversation(channel)
    other_ws = add_member(make_workspace()).workspace_id
    migrate(BEFORE)
    try:
        with connection.cursor() as cursor:  # the old schema: no name_key, case-sensitive names
            t0 = now()
            rows = [(1, ws, "VIP", t0), (2, ws, "vip", t0 + timedelta(1)), (3, ws, "Vip", t0 + timedelta(2)),
                    (4, ws, "billing", t0), (5, other_ws, "vip", t0)]  # fmt: skip
            for pk, workspace_id, name, at in rows:
                cursor.execute(
                    "INSERT INTO inbox_label (id, workspace_id, name, created_at) VALUES (%s, %s, %s, %s)",
                    [pk, workspace_id, name, at],
                )
            for conversation_id, label_id in [(both.pk, 1), (both.pk, 2), (only_later.pk, 3)]:
                cursor.execute(
                    "INSERT INTO inbox_conversationlabel (workspace_id, conversation_id, label_id) "
                    "VALUES (%s, %s, %s)",
                    [ws, conversation_id, label_id],
                )
    finally:
        migrate(AFTER)
    assert sorted(Label.objects.values_list("id", "workspace_id", "name", "name_key")) == [
        (1, ws, "VIP", "vip"), (4, ws, "billing", "billing"), (5, other_ws, "vip", "vip"),
    ]  # fmt: skip
    tagged = ConversationLabel.objects.values_list("conversation_id", "label_id")
    assert sorted(tagged) == sorted([(both.pk, 1), (only_later.pk, 1)])
