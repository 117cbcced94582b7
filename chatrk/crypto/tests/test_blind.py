"""Blind indexes: normalisation, per-workspace keys, the leakage rule, and O(log n) exact lookup."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from chatrk.core.models import Workspace
from chatrk.crypto.blind import NormalisationError, bits_for, e164, email
from chatrk.crypto.errors import CryptoError
from chatrk.crypto.queries import find_by_blind_index
from chatrk.crypto.tests.models import Person


@given(st.integers(min_value=16, max_value=10**12))
def test_width_meets_the_ciphersweet_leakage_rule(rows: int) -> None:
    bits = bits_for(rows)
    coincidences = rows / 2**bits
    assert 2 <= coincidences < math.sqrt(rows)
    assert rows / 2 ** (bits + 1) < 2  # and it is the widest that does


def test_tiny_tables_get_no_index() -> None:
    with pytest.raises(CryptoError):
        bits_for(4)


@pytest.mark.parametrize(
    "spelling", ["+44 7700 900123", "447700900123", "+44-7700-900-123", " +447700900123 "]
)
def test_phone_numbers_normalise_to_e164(spelling: str) -> None:
    assert e164(spelling) == "+447700900123"


def test_bad_phone_number_is_not_echoed() -> None:
    with pytest.raises(NormalisationError) as caught:
        e164("call me 5551234")
    assert "5551234" not in str(caught.value)


def test_email_is_lower_cased() -> None:
    assert email("  Ada.Lovelace@Example.ORG ") == "ada.lovelace@example.org"


@pytest.mark.django_db
def test_exact_lookup_finds_the_row_by_any_spelling(workspace: Workspace) -> None:
    people = [Person(workspace=workspace, phone=f"+1415555{n:04d}") for n in range(40)]
    Person.objects.bulk_create(people)
    found = find_by_blind_index(Person, workspace.pk, "phone_index", "1 (415) 555-0017")
    assert [row.pk for row in found] == [people[17].pk]
    assert find_by_blind_index(Person, workspace.pk, "phone_index", "+14155559999") == []


@pytest.mark.django_db
def test_email_lookup_is_case_insensitive(workspace: Workspace) -> None:
    target = Person(workspace=workspace, phone="+14155550100", email="Ada@Example.org")
    target.save()
    assert [
        row.pk for row in find_by_blind_index(Person, workspace.pk, "email_index", "ADA@example.ORG")
    ] == [target.pk]


@pytest.mark.django_db
def test_index_keys_differ_per_workspace(workspace: Workspace, other_workspace: Workspace) -> None:
    mine = Person(workspace=workspace, phone="+447700900123")
    theirs = Person(workspace=other_workspace, phone="+447700900123")
    mine.save()
    theirs.save()
    assert mine.phone_index != theirs.phone_index
    assert find_by_blind_index(Person, other_workspace.pk, "phone_index", "+447700900123") == [theirs]


@pytest.mark.django_db
def test_index_is_truncated_to_the_declared_width(workspace: Workspace) -> None:
    row = Person(workspace=workspace, phone="+447700900123")
    row.save()
    field = Person._meta.get_field("phone_index")
    assert row.phone_index is not None
    assert 0 <= row.phone_index < 2**18
    assert getattr(field, "bits", None) == 18


@pytest.mark.django_db
def test_index_follows_the_value_on_change_and_clear(workspace: Workspace) -> None:
    row = Person(workspace=workspace, phone="+447700900123", email="a@example.org")
    row.save()
    before = row.email_index
    row.email = "b@example.org"
    row.save()
    assert Person.objects.get(pk=row.pk).email_index not in (None, before)
    row.email = None
    row.save()
    assert Person.objects.get(pk=row.pk).email_index is None


@pytest.mark.django_db
def test_lookup_uses_the_btree_index(workspace: Workspace) -> None:
    query = Person.objects.filter(workspace=workspace, phone_index=12345)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query.explain()
    assert "index" in plan.lower()


@pytest.mark.parametrize(
    ("reported", "canonical"),
    [
        ("5511987654321", "+5511987654321"),  # Brazil, current nine-digit mobile
        ("551187654321", "+5511987654321"),  # Brazil, legacy eight-digit form
        ("551133334444", "+551133334444"),  # Brazil landline (starts 2-5): left alone
        ("5215512345678", "+525512345678"),  # Mexico, legacy "1" form
        ("525512345678", "+525512345678"),
        ("16505551234", "+16505551234"),
    ],
)
def test_whatsapp_ids_fold_brazil_and_mexico_legacy_forms(reported: str, canonical: str) -> None:
    from chatrk.crypto.blind import whatsapp_id

    assert whatsapp_id(reported) == canonical
