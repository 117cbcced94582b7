"""The planner statistics that keep SQLite from reading a whole table for a tenant's page."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import QuerySet

from chatrk.core import planner
from chatrk.core.roles import Role
from chatrk.inbox.models import Contact
from chatrk.testing import add_member, make_channel, make_conversation, make_workspace

pytestmark = pytest.mark.django_db


def _plan(rows: QuerySet[Contact]) -> str:
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return " ".join(str(row[-1]) for row in cursor.fetchall())


def test_with_statistics_a_tenant_page_of_contacts_is_read_by_primary_key() -> None:
    if connection.vendor != "sqlite":
        assert planner.refresh_statistics() is False  # autovacuum's job
        return
    workspace = make_workspace()
    channel = make_channel(add_member(workspace, role=Role.OWNER))
    ids = [make_conversation(channel).contact_id for _ in range(50)]
    page = Contact.objects.for_workspace(workspace.pk).filter(pk__in=ids)  # as the inbox list asks
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_schema WHERE name = 'sqlite_stat1'")
        analysed_before = cursor.fetchone() is not None
    if not analysed_before:  # SQLite's guess: the workspace index, i.e. every row of the tenant
        assert "contact_by_wa_id" in _plan(page)
    assert planner.refresh_statistics() is True
    assert "contact_by_wa_id" not in _plan(page)
