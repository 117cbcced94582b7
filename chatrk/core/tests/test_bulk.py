"""insert_rows: many new rows in one statement, stored exactly as save() would store them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from chatrk.core.bulk import insert_rows, one_of
from chatrk.core.roles import Role
from chatrk.crypto.fields import open_for_system
from chatrk.crypto.queries import find_by_blind_index
from chatrk.inbox.models import Contact, ContactNameWord
from chatrk.ingest.models import ChannelNotice
from chatrk.testing import add_member, make_channel, make_workspace

pytestmark = pytest.mark.django_db
AT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def new_contacts(workspace_id: int, count: int) -> list[Contact]:
    made = []
    for n in range(count):
        contact = Contact(workspace_id=workspace_id, created_at=AT)
        contact.wa_id = f"1650555{n:04d}"
        contact.profile_name = None if n % 2 else f"Person {n}"
        made.append(contact)
    return made


def test_rows_are_sealed_indexed_and_read_back_like_saved_ones() -> None:
    workspace = make_workspace()
    contacts = new_contacts(workspace.pk, 150)
    insert_rows(Contact, contacts)
    assert Contact.objects.filter(workspace=workspace).count() == 150
    stored = Contact.objects.get(pk=contacts[7].pk)
    assert open_for_system(stored, "wa_id") == "16505550007"
    assert open_for_system(stored, "profile_name") is None and stored.notes is None
    assert stored.created_at == AT and stored.blocked_at is None
    assert open_for_system(Contact.objects.get(pk=contacts[8].pk), "profile_name") == "Person 8"
    assert [c.pk for c in find_by_blind_index(Contact, workspace.pk, "wa_id_index", "+16505550123")] == [
        contacts[123].pk
    ]
    assert not contacts[0]._state.adding


def test_database_assigned_ids_are_left_to_the_database() -> None:
    workspace = make_workspace()
    contact = new_contacts(workspace.pk, 1)[0]
    insert_rows(Contact, [contact])
    words = [ContactNameWord(workspace_id=workspace.pk, contact=contact, token=n) for n in range(3)]
    with CaptureQueriesContext(connection) as queries:
        insert_rows(ContactNameWord, words)
    assert len(queries) == 1
    assert sorted(ContactNameWord.objects.filter(contact=contact).values_list("token", flat=True)) == [
        0,
        1,
        2,
    ]


def test_constraints_still_hold() -> None:
    workspace = make_workspace()
    contact = new_contacts(workspace.pk, 1)[0]
    insert_rows(Contact, [contact])
    twice = [ContactNameWord(workspace_id=workspace.pk, contact=contact, token=9) for _ in range(2)]
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(ContactNameWord, twice)
    assert not ContactNameWord.objects.exists()


def test_nothing_to_insert_is_no_query() -> None:
    with CaptureQueriesContext(connection) as queries:
        insert_rows(Contact, [])
    assert len(queries) == 0


def test_a_value_not_of_the_columns_own_type_is_still_converted() -> None:
    workspace = make_workspace()
    contact = new_contacts(workspace.pk, 1)[0]
    insert_rows(Contact, [contact])
    word = ContactNameWord(workspace_id=workspace.pk, contact=contact, token="41")
    insert_rows(ContactNameWord, [word])
    assert list(ContactNameWord.objects.filter(contact=contact).values_list("token", flat=True)) == [41]


def test_one_of_matches_exactly_the_values_given() -> None:
    workspace = make_workspace()
    contacts = new_contacts(workspace.pk, 5)
    insert_rows(Contact, contacts)
    wanted = [contacts[1].pk, contacts[3].pk, 12345]
    condition, params = one_of("id", wanted, "bigint[]")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM inbox_contact WHERE {condition}", params)  # noqa: S608
        assert sorted(row[0] for row in cursor.fetchall()) == sorted(wanted[:2])


def test_datetimes_in_any_zone_are_stored_as_the_same_instant_as_save_stores_them() -> None:
    workspace = make_workspace()
    inserted, saved = new_contacts(workspace.pk, 2)
    elsewhere = AT.astimezone(timezone(timedelta(hours=-7)))
    inserted.created_at = saved.created_at = elsewhere
    insert_rows(Contact, [inserted])
    saved.save(force_insert=True)
    assert Contact.objects.get(pk=inserted.pk).created_at == Contact.objects.get(pk=saved.pk).created_at == AT
    with connection.cursor() as cursor:
        cursor.execute("SELECT created_at FROM inbox_contact WHERE workspace_id = %s", [workspace.pk])
        assert len({row[0] for row in cursor.fetchall()}) == 1  # the same stored form, byte for byte


def test_json_binary_and_encrypted_json_columns_read_back_as_saved() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    channel = make_channel(owner)
    details = {"name": "order_update", "ids": [1, 2], "nested": {"ok": True, "none": None}}

    def notice(dedup: str) -> ChannelNotice:
        row = ChannelNotice(
            workspace_id=channel.workspace_id, channel=channel, kind="errors", details=details,
            dedup_key=dedup, occurred_at=None, received_at=AT,
        )  # fmt: skip
        row.payload = {"text": "tab\there, quote ' and \\ backslash", "n": 3}
        return row

    inserted, saved = notice("a" * 64), notice("b" * 64)
    insert_rows(ChannelNotice, [inserted])
    saved.save(force_insert=True)
    for row in (inserted, saved):
        stored = ChannelNotice.objects.get(pk=row.pk)
        assert stored.details == details and stored.occurred_at is None and stored.received_at == AT
        assert open_for_system(stored, "payload") == {"text": "tab\there, quote ' and \\ backslash", "n": 3}
