"""Crypto-shredding: a destroyed subject key makes every field and file of that subject unreadable,
in the live database, in a copy taken before the erasure, and after restoring that copy."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from chatrk.accounts.models import User
from chatrk.audit.actions import SYSTEM, Actor
from chatrk.audit.models import AuditEvent, Outcome
from chatrk.core.clock import now
from chatrk.core.models import Workspace
from chatrk.crypto import actions, keyring, rotation
from chatrk.crypto.actions import SubjectRef
from chatrk.crypto.errors import KeyDestroyed, LegalHoldActive, SubjectErased, SubjectShredded
from chatrk.crypto.fields import open_for_system
from chatrk.crypto.files import FileBinding, decrypt_stream, encrypt_stream
from chatrk.crypto.models import DataKey, KeyKind, KeyState
from chatrk.crypto.queries import find_by_blind_index
from chatrk.crypto.tests.conftest import make_workspace
from chatrk.crypto.tests.models import Note, Person

PHONE = "+447700900777"
BODY = "my diagnosis is confidential-7f3a"
NAME_JSON = {"name": "Grace Hopper-9c1e"}


def subject_with_data(workspace: Workspace, phone: str = PHONE) -> tuple[Person, Note]:
    person = Person(workspace=workspace, phone=phone, email="grace@example.org", profile=NAME_JSON)
    person.save()
    note = Note(workspace=workspace, person=person, body=BODY)
    note.save()
    return person, note


def ref(person: Person) -> SubjectRef:
    return SubjectRef("person", person.pk)


def staff(email: str = "dpo@example.org") -> User:
    return User.objects.create(email=email, name="DPO", created_at=now())


@pytest.mark.django_db
def test_shredding_makes_every_field_of_the_subject_unreadable(workspace: Workspace) -> None:
    person, note = subject_with_data(workspace)
    bystander, their_note = subject_with_data(workspace, phone="+14155550100")

    assert actions.shred_subject(workspace.pk, ref(person), actor=SYSTEM, reason="dsar-17") == 1

    for row, name in [
        (Person.objects.get(pk=person.pk), "phone"),
        (Person.objects.get(pk=person.pk), "profile"),
    ]:
        with pytest.raises(SubjectShredded):
            open_for_system(row, name)
    with pytest.raises(SubjectShredded):
        open_for_system(Note.objects.get(pk=note.pk), "body")
    assert open_for_system(Note.objects.get(pk=their_note.pk), "body") == BODY
    assert open_for_system(Person.objects.get(pk=bystander.pk), "phone") == "+14155550100"
    key = DataKey.objects.get(workspace=workspace, subject=str(ref(person)))
    assert key.state == KeyState.DESTROYED
    assert bytes(key.wrapped) == b""


@pytest.mark.django_db
def test_shredding_clears_blind_indexes(workspace: Workspace) -> None:
    person, _ = subject_with_data(workspace)
    actions.shred_subject(workspace.pk, ref(person), actor=SYSTEM)
    row = Person.objects.get(pk=person.pk)
    assert row.phone_index is None
    assert row.email_index is None
    assert find_by_blind_index(Person, workspace.pk, "phone_index", PHONE) == []


@pytest.mark.django_db
def test_shredding_makes_the_subjects_files_unreadable(workspace: Workspace) -> None:
    person, _ = subject_with_data(workspace)
    where = FileBinding(workspace.pk, str(ref(person)), "inbox.media", 5)
    blob = io.BytesIO()
    encrypt_stream(io.BytesIO(b"x-ray image" * 100), blob, binding=where)
    actions.shred_subject(workspace.pk, ref(person), actor=SYSTEM)
    with pytest.raises(SubjectShredded):
        decrypt_stream(io.BytesIO(blob.getvalue()), io.BytesIO(), binding=where)


@pytest.mark.django_db
def test_nothing_new_is_written_for_an_erased_subject(workspace: Workspace) -> None:
    person, _ = subject_with_data(workspace)
    actions.shred_subject(workspace.pk, ref(person), actor=SYSTEM)
    with pytest.raises(SubjectErased):
        Note(workspace=workspace, person=person, body="new message").save()


@pytest.mark.django_db
def test_a_subject_without_data_is_erased_too(workspace: Workspace) -> None:
    actions.shred_subject(workspace.pk, SubjectRef("person", 424242), actor=SYSTEM)
    ghost = Person(pk=424242, workspace=workspace, phone=PHONE)
    with pytest.raises(SubjectErased):
        ghost.save()


@pytest.mark.django_db
def test_shredding_is_audited_without_personal_data(workspace: Workspace) -> None:
    person, _ = subject_with_data(workspace)
    actions.shred_subject(workspace.pk, ref(person), actor=Actor.user(7), reason="dsar-17")
    event = AuditEvent.objects.get(action="crypto.subject.shred")
    assert (event.outcome, event.target_kind, event.target_id, event.actor_id) == (
        Outcome.SUCCESS, "person", str(person.pk), "7",
    )  # fmt: skip
    assert event.details == {"keys": 1, "index_rows_cleared": 1}
    assert PHONE not in str(event.details)
    assert "Grace" not in str(event.details)


@pytest.mark.django_db
def test_legal_hold_refuses_shredding_and_the_refusal_is_audited(workspace: Workspace) -> None:
    person, note = subject_with_data(workspace)
    dpo = staff()
    hold = actions.place_hold(workspace.pk, ref(person), by_user_id=dpo.pk, reason="case 2026-114")
    with pytest.raises(LegalHoldActive):
        actions.shred_subject(workspace.pk, ref(person), actor=Actor.user(dpo.pk))
    assert open_for_system(Note.objects.get(pk=note.pk), "body") == BODY
    denied = AuditEvent.objects.get(action="crypto.subject.shred")
    assert denied.outcome == Outcome.DENIED
    assert denied.reason == "legal hold"

    actions.release_hold(hold, by_user_id=dpo.pk)
    actions.shred_subject(workspace.pk, ref(person), actor=Actor.user(dpo.pk))
    with pytest.raises(SubjectShredded):
        open_for_system(Note.objects.get(pk=note.pk), "body")
    logged = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"crypto.hold.place", "crypto.hold.release"} <= logged


@pytest.mark.django_db
def test_hold_on_another_subject_does_not_block(workspace: Workspace) -> None:
    person, _ = subject_with_data(workspace)
    actions.place_hold(
        workspace.pk, SubjectRef("person", person.pk + 1), by_user_id=staff().pk, reason="case 1"
    )
    assert actions.shred_subject(workspace.pk, ref(person), actor=SYSTEM) == 1


# --- the raw database file, and a copy taken before the erasure -------------------------------------


def snapshot(target: Path) -> bytes:
    """The database's bytes as a backup would hold them: SQLite's file, or PostgreSQL's dump."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM INTO %s", [str(target)])
        return target.read_bytes()
    settings = connection.settings_dict
    dump = subprocess.run(  # noqa: S603 - fixed binary, test database
        ["pg_dump", "--data-only", "-h", settings["HOST"], "-p", str(settings["PORT"] or 5432),  # noqa: S607
         "-U", settings["USER"], "-f", str(target), settings["NAME"]],
        env={**os.environ, "PGPASSWORD": settings["PASSWORD"] or ""}, check=True, capture_output=True,
    )  # fmt: skip
    assert dump.returncode == 0
    return target.read_bytes()


def leaks(image: bytes, secret: bytes) -> bool:
    """Present as bytes, or as PostgreSQL's hex text for bytea."""
    return secret in image or secret.hex().encode() in image


def key_row_in_copy(before: Path, key_id: int) -> dict[str, Any]:
    """A crypto_datakey row as the old copy holds it."""
    if connection.vendor == "sqlite":
        with sqlite3.connect(before) as old:
            old.row_factory = sqlite3.Row
            row = old.execute("SELECT * FROM crypto_datakey WHERE id = ?", [key_id]).fetchone()
            return dict(row)
    return _row_from_dump(before.read_text(), key_id)


def _row_from_dump(dump: str, key_id: int) -> dict[str, Any]:
    section = dump.split("COPY public.crypto_datakey ", 1)[1]
    header, rows = section.split("\n", 1)
    columns = header[header.index("(") + 1 : header.index(")")].split(", ")
    for line in rows.splitlines():
        values: dict[str, Any] = dict(zip(columns, line.split("\t"), strict=True))
        if values["id"] == str(key_id):
            values["wrapped"] = bytes.fromhex(values["wrapped"].removeprefix("\\\\x"))
            values["parent_id"] = None if values["parent_id"] == "\\N" else int(values["parent_id"])
            return values
    raise AssertionError("key row not in the dump")


def restore_key_row(before: Path, key_id: int, *, state: str | None = None) -> None:
    """Puts a key row back as it was in the old copy (what restoring that backup would do)."""
    old = key_row_in_copy(before, key_id)
    DataKey.objects.filter(pk=key_id).update(
        wrapped=bytes(old["wrapped"]),
        state=state or old["state"],
        kek_id=old["kek_id"],
        parent_id=old["parent_id"],
    )


@pytest.mark.django_db(transaction=True)
def test_raw_database_before_and_after_erasure(tmp_path: Path) -> None:
    workspace = make_workspace("initech")
    person, note = subject_with_data(workspace)
    stored_body = bytes(Note.objects.get(pk=note.pk).body)
    key = DataKey.objects.get(workspace=workspace, kind=KeyKind.SUBJECT, subject=str(ref(person)))
    wrapped_key = bytes(key.wrapped)
    before = snapshot(tmp_path / "before.db")

    actions.shred_subject(workspace.pk, ref(person), actor=SYSTEM)
    after = snapshot(tmp_path / "after.db")

    for image in (before, after):  # no plaintext, ever, in either copy
        for secret in (BODY.encode(), PHONE.encode(), b"Grace Hopper", b"grace@example.org"):
            assert not leaks(image, secret)
    assert leaks(before, stored_body)
    assert leaks(after, stored_body)
    assert leaks(before, wrapped_key)
    assert not leaks(after, wrapped_key)

    # Restoring the old copy's key row does not bring the data back: the erasure ledger outlives it.
    keyring.clear_cache()
    restore_key_row(tmp_path / "before.db", key.pk)
    assert bytes(DataKey.objects.get(pk=key.pk).wrapped) == wrapped_key
    assert DataKey.objects.get(pk=key.pk).state == KeyState.ACTIVE
    with pytest.raises(SubjectShredded):
        open_for_system(Note.objects.get(pk=note.pk), "body")


@pytest.mark.django_db(transaction=True)
def test_finalised_erasure_defeats_a_pre_erasure_copy_even_without_the_ledger(
    tmp_path: Path, key_dir: Path
) -> None:
    """The ledger protects restores done through Chatrk. Someone holding an old copy of the database
    (a backup, PostgreSQL dead tuples or WAL) and the live KEK could bypass it, until the erasure is
    finalised: then the workspace key and KEK version the old copy needs are destroyed."""
    workspace = make_workspace("initech")
    person, note = subject_with_data(workspace)
    subject_key = DataKey.objects.get(workspace=workspace, kind=KeyKind.SUBJECT)
    workspace_key = DataKey.objects.get(workspace=workspace, kind=KeyKind.WORKSPACE)
    snapshot(tmp_path / "before.db")
    actions.shred_subject(workspace.pk, ref(person), actor=SYSTEM)

    def attack(workspace_key_state: str | None = None) -> str:
        (key_dir / "erasures.log").unlink(missing_ok=True)  # the attacker is not bound by Chatrk's ledger
        restore_key_row(tmp_path / "before.db", subject_key.pk)
        restore_key_row(tmp_path / "before.db", workspace_key.pk, state=workspace_key_state)
        keyring.clear_cache()
        return str(open_for_system(Note.objects.get(pk=note.pk), "body"))

    assert rotation.workspaces_with_unfinalised_erasures() == [workspace.pk]
    assert attack() == BODY  # the documented window: erased, but not yet final against old copies

    actions.shred_subject(workspace.pk, ref(person), actor=SYSTEM)
    assert rotation.finalise_erasures(actor=SYSTEM) == [workspace.pk]
    assert rotation.workspaces_with_unfinalised_erasures() == []
    with pytest.raises(KeyDestroyed, match="KEK file:1"):
        attack(workspace_key_state=KeyState.DECRYPT_ONLY)  # v2 is the active one now


@pytest.mark.django_db
def test_keys_command_finalises_erasures(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    from django.core.management import call_command

    person, _ = subject_with_data(workspace)
    _, their_note = subject_with_data(workspace, phone="+14155550100")
    actions.shred_subject(workspace.pk, ref(person), actor=SYSTEM)
    call_command("keys", "status")
    assert "erasures not yet final: 1" in capsys.readouterr().out
    call_command("keys", "finalise-erasures")
    assert "1 workspace key(s) and the KEK rotated" in capsys.readouterr().out
    keyring.clear_cache()
    assert open_for_system(Note.objects.get(pk=their_note.pk), "body") == BODY  # everyone else still reads
    assert rotation.workspaces_with_unfinalised_erasures() == []
