"""Encrypted fields: round trips, what reaches the database, and the attacks AAD binding must stop."""

from __future__ import annotations

import struct

import pytest
from django.core.exceptions import FieldError
from django.db import connection, transaction

from chatrk.core.ids import new_id
from chatrk.core.models import Workspace
from chatrk.crypto.envelope import HEADER_BYTES, Sealed, key_id_of
from chatrk.crypto.errors import CryptoError, DecryptionFailed, UnknownFormat
from chatrk.crypto.fields import open_for_system
from chatrk.crypto.models import DataKey, KeyKind
from chatrk.crypto.tests.models import Note, Person, Secret

PHONE = "+447700900123"
BODY = "Meet me at 221B Baker Street"

pytestmark = pytest.mark.django_db


def raw(table: str, column: str, row_id: int) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [row_id])  # noqa: S608 - test names
        return bytes(cursor.fetchone()[0])


def write_raw(table: str, column: str, row_id: int, value: bytes) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [value, row_id])  # noqa: S608


def person(workspace: Workspace, phone: str = PHONE, **extra: object) -> Person:
    row = Person(workspace=workspace, phone=phone, **extra)
    row.save()
    return row


def note(subject: Person, body: str = BODY) -> Note:
    row = Note(workspace_id=subject.workspace_id, person=subject, body=body)
    row.save()
    return row


def test_round_trip_of_text_json_and_null(workspace: Workspace) -> None:
    saved = person(workspace, email="Ada@Example.org", profile={"name": "Ada", "tags": ["vip", 3]})
    loaded = Person.objects.get(pk=saved.pk)
    assert open_for_system(loaded, "phone") == PHONE
    assert open_for_system(loaded, "email") == "Ada@Example.org"
    assert open_for_system(loaded, "profile") == {"name": "Ada", "tags": ["vip", 3]}
    empty = person(workspace, phone="+14155550100")
    assert Person.objects.get(pk=empty.pk).email is None


def test_the_database_holds_only_a_versioned_ciphertext(workspace: Workspace) -> None:
    saved = note(person(workspace))
    stored = raw("crypto_test_note", "body", saved.pk)
    assert BODY.encode() not in stored
    version, key_id = struct.unpack_from(">BQ", stored)
    key = DataKey.objects.get(pk=key_id)
    assert (version, key.kind, key.subject) == (1, KeyKind.SUBJECT, f"person:{saved.person_id}")
    assert len(stored) == HEADER_BYTES + 12 + len(BODY.encode()) + 16


def test_same_plaintext_encrypts_differently(workspace: Workspace) -> None:
    subject = person(workspace)
    first, second = note(subject), note(subject)
    assert (
        raw("crypto_test_note", "body", first.pk)[HEADER_BYTES:]
        != raw("crypto_test_note", "body", second.pk)[HEADER_BYTES:]
    )


def test_loaded_values_never_print_their_plaintext(workspace: Workspace) -> None:
    loaded = Note.objects.get(pk=note(person(workspace)).pk)
    assert isinstance(loaded.body, Sealed)
    assert "Baker" not in repr(loaded.body)
    assert "Baker" not in str(loaded.body)
    assert "sealed" in repr(loaded.body)


def test_values_are_sealed_on_the_instance_after_save(workspace: Workspace) -> None:
    saved = note(person(workspace))
    assert isinstance(saved.body, Sealed)
    assert open_for_system(saved, "body") == BODY


def test_ciphertext_moved_to_another_row_fails(workspace: Workspace) -> None:
    subject = person(workspace)
    victim, other = note(subject), note(subject, "other text")
    write_raw("crypto_test_note", "body", other.pk, raw("crypto_test_note", "body", victim.pk))
    with pytest.raises(DecryptionFailed, match="authentication failed"):
        open_for_system(Note.objects.get(pk=other.pk), "body")


def test_ciphertext_moved_to_another_column_fails(workspace: Workspace) -> None:
    saved = note(person(workspace))
    saved.title = "x"
    saved.save()
    write_raw("crypto_test_note", "title", saved.pk, raw("crypto_test_note", "body", saved.pk))
    with pytest.raises(DecryptionFailed):
        open_for_system(Note.objects.get(pk=saved.pk), "title")


def test_ciphertext_moved_to_another_table_fails(workspace: Workspace) -> None:
    secret = Secret(workspace=workspace, value="s")
    secret.save()
    write_raw("crypto_test_secret", "value", secret.pk, raw("crypto_test_secret", "value", secret.pk))
    victim = Secret(workspace=workspace, value="t")
    victim.save()
    # Same column name, same workspace key, different row and table: rewrite the id-matched row of Note.
    subject = person(workspace)
    moved = Note(pk=secret.pk, workspace=workspace, person=subject, body="placeholder")
    moved.save()
    write_raw("crypto_test_note", "body", moved.pk, raw("crypto_test_secret", "value", secret.pk))
    with pytest.raises(DecryptionFailed):
        open_for_system(Note.objects.get(pk=moved.pk), "body")


def test_ciphertext_moved_to_another_workspace_fails(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    mine, theirs = (
        Secret(workspace=workspace, value="mine"),
        Secret(workspace=other_workspace, value="theirs"),
    )
    mine.save()
    theirs.save()
    write_raw("crypto_test_secret", "value", theirs.pk, raw("crypto_test_secret", "value", mine.pk))
    with pytest.raises(DecryptionFailed, match="another workspace"):
        open_for_system(Secret.objects.get(pk=theirs.pk), "value")


def test_row_moved_to_another_subject_fails(workspace: Workspace) -> None:
    saved = note(person(workspace))
    other = person(workspace, phone="+14155550100")
    Note.objects.filter(pk=saved.pk).update(person=other)
    with pytest.raises(DecryptionFailed, match="another subject"):
        open_for_system(Note.objects.get(pk=saved.pk), "body")


@pytest.mark.parametrize(
    ("label", "offset"),
    [("key id", 5), ("nonce", HEADER_BYTES + 3), ("ciphertext", HEADER_BYTES + 14), ("tag", -1)],
)
def test_any_flipped_bit_fails(workspace: Workspace, label: str, offset: int) -> None:
    saved = note(person(workspace))
    stored = bytearray(raw("crypto_test_note", "body", saved.pk))
    stored[offset] ^= 0x01
    write_raw("crypto_test_note", "body", saved.pk, bytes(stored))
    with pytest.raises(CryptoError):
        open_for_system(Note.objects.get(pk=saved.pk), "body")


def test_header_pointing_at_another_key_of_the_same_subject_fails(workspace: Workspace) -> None:
    subject = person(workspace)
    saved = note(subject)
    stored = raw("crypto_test_note", "body", saved.pk)
    index_key = DataKey.objects.get(workspace=workspace, kind=KeyKind.INDEX)
    forged = struct.pack(">BQ", 1, index_key.pk) + stored[HEADER_BYTES:]
    write_raw("crypto_test_note", "body", saved.pk, forged)
    with pytest.raises(DecryptionFailed):
        open_for_system(Note.objects.get(pk=saved.pk), "body")


def test_unknown_format_and_truncation_fail(workspace: Workspace) -> None:
    saved = note(person(workspace))
    stored = raw("crypto_test_note", "body", saved.pk)
    write_raw("crypto_test_note", "body", saved.pk, b"\x09" + stored[1:])
    with pytest.raises(UnknownFormat):
        open_for_system(Note.objects.get(pk=saved.pk), "body")
    write_raw("crypto_test_note", "body", saved.pk, stored[: HEADER_BYTES + 20])
    with pytest.raises(DecryptionFailed):
        open_for_system(Note.objects.get(pk=saved.pk), "body")
    write_raw("crypto_test_note", "body", saved.pk, stored[:4])
    with pytest.raises(DecryptionFailed):
        open_for_system(Note.objects.get(pk=saved.pk), "body")


def test_plaintext_cannot_reach_the_database_through_update(workspace: Workspace) -> None:
    saved = note(person(workspace))
    with pytest.raises(CryptoError, match="encrypted by save"), transaction.atomic():
        Note.objects.filter(pk=saved.pk).update(body="plain")
    saved.body = "plain"
    with pytest.raises(CryptoError, match="encrypted by save"), transaction.atomic():
        Note.objects.bulk_update([saved], ["body"])
    assert b"plain" not in raw("crypto_test_note", "body", saved.pk)


def test_encrypted_fields_cannot_be_compared(workspace: Workspace) -> None:
    with pytest.raises(FieldError):
        list(Note.objects.filter(body=BODY))
    assert Note.objects.filter(title__isnull=True).count() == 0


def test_bulk_create_encrypts_every_row(workspace: Workspace) -> None:
    subject = person(workspace)
    rows = [Note(workspace=workspace, person=subject, body=f"line {n}") for n in range(5)]
    Note.objects.bulk_create(rows)
    loaded = Note.objects.filter(person=subject).order_by("pk")
    assert [open_for_system(row, "body") for row in loaded] == [f"line {n}" for n in range(5)]
    assert all(b"line" not in raw("crypto_test_note", "body", row.pk) for row in loaded)


def test_subject_rows_use_the_subject_key_and_workspace_rows_the_workspace_key(workspace: Workspace) -> None:
    subject = person(workspace)
    secret = Secret(workspace=workspace, value="api-token")
    secret.save()
    subject_key = DataKey.objects.get(pk=key_id_of(raw("crypto_test_person", "phone", subject.pk)))
    workspace_key = DataKey.objects.get(pk=key_id_of(raw("crypto_test_secret", "value", secret.pk)))
    assert subject_key.kind == KeyKind.SUBJECT
    assert subject_key.parent_id == workspace_key.pk
    assert workspace_key.kind == KeyKind.WORKSPACE
    assert workspace_key.parent_id is None
    assert workspace_key.kek_id == "file:1"
    assert note(subject).body[:HEADER_BYTES] == raw("crypto_test_person", "phone", subject.pk)[:HEADER_BYTES]


def test_a_model_without_a_preassigned_id_is_rejected_by_checks() -> None:
    from django.db import models
    from django.test.utils import isolate_apps

    from chatrk.crypto.fields import EncryptedTextField

    with isolate_apps("chatrk.crypto"):

        class Careless(models.Model):  # noqa: DJ008
            body = EncryptedTextField()

            class Meta:
                app_label = "crypto"

        errors = Careless._meta.get_field("body").check()
    assert [error.id for error in errors] == ["crypto.E001"]


def test_text_field_refuses_non_text(workspace: Workspace) -> None:
    with pytest.raises(CryptoError, match="takes text"):
        Person(workspace=workspace, phone=12345).save()


def test_serialised_rows_keep_their_ciphertext(workspace: Workspace) -> None:
    from django.core import serializers

    saved = note(person(workspace))
    dumped = serializers.serialize("json", [Note.objects.get(pk=saved.pk)])
    assert BODY not in dumped
    Note.objects.filter(pk=saved.pk).delete()
    for restored in serializers.deserialize("json", dumped):
        restored.save()
    assert open_for_system(Note.objects.get(pk=saved.pk), "body") == BODY


def test_copying_a_row_to_a_new_id_does_not_carry_readable_values(workspace: Workspace) -> None:
    original = note(person(workspace))
    copy = Note.objects.get(pk=original.pk)
    copy.pk = None
    copy.id = new_id()
    copy.save(force_insert=True)
    with pytest.raises(DecryptionFailed):
        open_for_system(Note.objects.get(pk=copy.pk), "body")


def test_a_missing_required_value_is_refused_not_encrypted(workspace: Workspace) -> None:
    from django.db import IntegrityError

    subject = person(workspace)
    with pytest.raises(IntegrityError), transaction.atomic():
        Note(workspace=workspace, person=subject).save()
