"""Rotation as Vault tests it: encrypt -> rotate -> rewrap -> decrypt, and a retired version fails."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from chatrk.audit.actions import SYSTEM
from chatrk.audit.models import AuditEvent
from chatrk.core.models import Workspace
from chatrk.crypto import actions, keyring, rotation
from chatrk.crypto.envelope import key_id_of
from chatrk.crypto.errors import KeyDestroyed
from chatrk.crypto.fields import open_for_system
from chatrk.crypto.files import FileBinding, decrypt_stream, encrypt_stream
from chatrk.crypto.models import DataKey, KeyKind, KeyState, RotationJob
from chatrk.crypto.providers import get_provider
from chatrk.crypto.system import seal, unseal
from chatrk.crypto.tests.models import Note, Person, Secret

pytestmark = pytest.mark.django_db


def raw(table: str, column: str, row_id: int) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [row_id])  # noqa: S608
        return bytes(cursor.fetchone()[0])


def write_raw(table: str, column: str, row_id: int, value: bytes) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [value, row_id])  # noqa: S608


def populate(workspace: Workspace, count: int = 7) -> tuple[list[Secret], list[Note]]:
    secrets = [Secret(workspace=workspace, value=f"secret {n}", extra={"n": n}) for n in range(count)]
    Secret.objects.bulk_create(secrets)
    subject = Person(workspace=workspace, phone="+447700900123")
    subject.save()
    notes = [Note(workspace=workspace, person=subject, body=f"note {n}") for n in range(count)]
    Note.objects.bulk_create(notes)
    return secrets, notes


def workspace_keys(workspace: Workspace) -> list[tuple[int, str]]:
    rows = DataKey.objects.filter(workspace=workspace, kind=KeyKind.WORKSPACE).order_by("version")
    return [(row.version, row.state) for row in rows]


def test_encrypt_rotate_rewrap_decrypt_and_retired_version_fails(workspace: Workspace) -> None:
    secrets, _ = populate(workspace)
    old_key = key_id_of(raw("crypto_test_secret", "value", secrets[0].pk))
    stale_copy = raw("crypto_test_secret", "value", secrets[0].pk)

    job = rotation.rotate_workspace(workspace.pk, actor=SYSTEM, batch_size=3)

    assert workspace_keys(workspace) == [(1, KeyState.DESTROYED), (2, KeyState.ACTIVE)]
    new_key = int(job.new_key)
    for n, secret in enumerate(Secret.objects.filter(workspace=workspace).order_by("pk")):
        assert key_id_of(raw("crypto_test_secret", "value", secret.pk)) == new_key
        assert open_for_system(secret, "value") == f"secret {n}"
        assert open_for_system(secret, "extra") == {"n": n}
    subject_key = DataKey.objects.get(workspace=workspace, kind=KeyKind.SUBJECT)
    assert subject_key.parent_id == new_key
    assert [open_for_system(row, "body") for row in Note.objects.order_by("pk")] == [
        f"note {n}" for n in range(7)
    ]
    assert DataKey.objects.get(pk=old_key).wrapped in (b"", memoryview(b""))

    # A value still under the retired version (e.g. from a restored backup) fails loudly.
    write_raw("crypto_test_secret", "value", secrets[0].pk, stale_copy)
    with pytest.raises(KeyDestroyed, match="v1 is destroyed"):
        open_for_system(Secret.objects.get(pk=secrets[0].pk), "value")


def test_new_data_uses_the_new_version_at_once(workspace: Workspace) -> None:
    populate(workspace, 2)
    job = actions.start_workspace_rotation(workspace.pk, actor=SYSTEM)
    fresh = Secret(workspace=workspace, value="written during rotation")
    fresh.save()
    assert key_id_of(raw("crypto_test_secret", "value", fresh.pk)) == int(job.new_key)
    assert workspace_keys(workspace) == [(1, KeyState.DECRYPT_ONLY), (2, KeyState.ACTIVE)]
    old = Secret.objects.filter(workspace=workspace).exclude(pk=fresh.pk).first()
    assert old is not None
    assert open_for_system(old, "value") == "secret 0"


class Crash(Exception):
    pass


def test_interrupted_rotation_resumes_where_it_stopped(workspace: Workspace) -> None:
    populate(workspace, 10)
    calls: list[tuple[int, int]] = []

    def crash_after_two_batches(done: int, total: int) -> None:
        calls.append((done, total))
        if len(calls) == 3:
            raise Crash

    with pytest.raises(Crash):
        rotation.rotate_workspace(workspace.pk, actor=SYSTEM, batch_size=4, progress=crash_after_two_batches)
    job = RotationJob.objects.get(workspace=workspace)
    assert job.finished_at is None
    assert job.done == 5
    seen: list[tuple[int, int]] = []
    rotation.rotate_workspace(
        workspace.pk, actor=SYSTEM, batch_size=4, progress=lambda d, t: seen.append((d, t))
    )
    job.refresh_from_db()
    assert job.finished_at is not None
    assert job.done == 11
    assert seen[0] == (5, 11)
    assert seen[-1] == (11, 11)
    assert all(open_for_system(row, "value") for row in Secret.objects.all())
    assert workspace_keys(workspace) == [(1, KeyState.DESTROYED), (2, KeyState.ACTIVE)]


def test_rotation_leaves_other_workspaces_alone(workspace: Workspace, other_workspace: Workspace) -> None:
    populate(workspace, 2)
    theirs, _ = populate(other_workspace, 2)
    rotation.rotate_workspace(workspace.pk, actor=SYSTEM)
    assert workspace_keys(other_workspace) == [(1, KeyState.ACTIVE)]
    assert open_for_system(Secret.objects.get(pk=theirs[0].pk), "value") == "secret 0"


def test_files_survive_workspace_rotation(workspace: Workspace) -> None:
    where = FileBinding(workspace.pk, "person:9", "inbox.media", 1)
    blob = io.BytesIO()
    encrypt_stream(io.BytesIO(b"photo" * 1000), blob, binding=where)
    rotation.rotate_workspace(workspace.pk, actor=SYSTEM)
    keyring.clear_cache()
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob.getvalue()), out, binding=where)
    assert out.getvalue() == b"photo" * 1000


def test_rotation_is_audited(workspace: Workspace) -> None:
    populate(workspace, 1)
    rotation.rotate_workspace(workspace.pk, actor=SYSTEM)
    actions_logged = list(
        AuditEvent.objects.filter(workspace_id=workspace.pk).values_list("action", flat=True)
    )
    assert "crypto.key.rotate" in actions_logged
    assert "crypto.key.retire" in actions_logged


def test_kek_rotation_rewraps_and_retires_the_old_kek(workspace: Workspace) -> None:
    secrets, notes = populate(workspace, 3)
    sealed = seal(b"totp seed", context="totp:1")
    before = {row.pk: (row.kek_id, bytes(row.wrapped)) for row in DataKey.objects.filter(parent__isnull=True)}
    assert {kek for kek, _ in before.values()} == {"file:1"}

    rotation.rotate_kek(actor=SYSTEM, batch_size=2)
    keyring.clear_cache()

    assert set(DataKey.objects.filter(parent__isnull=True).values_list("kek_id", flat=True)) == {"file:2"}
    assert [(v.id, v.state) for v in get_provider().versions()] == [
        ("file:1", "destroyed"),
        ("file:2", "active"),
    ]
    assert unseal(sealed, context="totp:1") == b"totp seed"
    assert open_for_system(Secret.objects.get(pk=secrets[0].pk), "value") == "secret 0"
    assert open_for_system(Note.objects.get(pk=notes[2].pk), "body") == "note 2"

    # A key row restored from a backup taken before the rotation names a destroyed KEK: it fails loudly.
    key_id, (kek_id, wrapped) = next(iter(before.items()))
    DataKey.objects.filter(pk=key_id).update(kek_id=kek_id, wrapped=wrapped)
    keyring.clear_cache()
    with pytest.raises(KeyDestroyed, match="KEK file:1"):
        keyring.load_key(key_id)


def test_kms_kek_rotation_moves_keys_to_the_new_kms_key(workspace: Workspace, kms: Any) -> None:
    first = kms.create_key()["KeyMetadata"]["KeyId"]
    second = kms.create_key()["KeyMetadata"]["KeyId"]
    endpoint = kms.meta.endpoint_url
    kms_settings = {
        "CRYPTO_KEK_PROVIDER": "aws-kms",
        "CRYPTO_KMS_ENDPOINT_URL": endpoint,
        "CRYPTO_KMS_REGION": "us-east-1",
    }
    with override_settings(**kms_settings, CRYPTO_KMS_KEY_ID=first):
        secrets, _ = populate(workspace, 2)
        assert set(DataKey.objects.values_list("kek_id", flat=True)) - {""} == {get_provider().primary_id()}
    keyring.clear_cache()
    with override_settings(**kms_settings, CRYPTO_KMS_KEY_ID=second):
        job = rotation.rotate_kek(actor=SYSTEM)
        keyring.clear_cache()
        assert job.new_key.endswith(second)
        assert set(DataKey.objects.values_list("kek_id", flat=True)) - {""} == {job.new_key}
        assert open_for_system(Secret.objects.get(pk=secrets[1].pk), "value") == "secret 1"


def test_keys_command_rotates_and_reports(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    populate(workspace, 3)
    call_command("keys", "rotate", "--workspace", workspace.slug, "--batch-size", "2")
    out, err = capsys.readouterr()
    assert "now on key v2" in out
    assert "re-encrypt [" in err
    assert "4/4" in err
    call_command("keys", "rotate", "--kek")
    call_command("keys", "status")
    out, _ = capsys.readouterr()
    assert "KEK file:2: active" in out
    assert "KEK file:1: destroyed" in out
    assert "workspace keys destroyed: 1" in out
    assert "workspace keys active: 1" in out


def test_keys_command_rejects_unknown_workspace() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no workspace"):
        call_command("keys", "rotate", "--workspace", "nope")


def test_env_kek_rotation_moves_keys_to_the_new_environment_key(workspace: Workspace) -> None:
    old, new = base64.b64encode(b"\x11" * 32).decode(), base64.b64encode(b"\x22" * 32).decode()
    with override_settings(CRYPTO_KEK_PROVIDER="env", CRYPTO_KEK_SECRET=old, CRYPTO_KEK_PREVIOUS_SECRETS=[]):
        secrets, _ = populate(workspace, 2)
        old_id = get_provider().primary_id()
    keyring.clear_cache()
    with override_settings(
        CRYPTO_KEK_PROVIDER="env", CRYPTO_KEK_SECRET=new, CRYPTO_KEK_PREVIOUS_SECRETS=[old]
    ):
        job = rotation.rotate_kek(actor=SYSTEM)
        assert job.new_key != old_id
        assert set(DataKey.objects.values_list("kek_id", flat=True)) - {""} == {job.new_key}
    keyring.clear_cache()
    # The operator then drops the old key from CHATRK_KEK_PREVIOUS; everything still reads.
    with override_settings(CRYPTO_KEK_PROVIDER="env", CRYPTO_KEK_SECRET=new, CRYPTO_KEK_PREVIOUS_SECRETS=[]):
        assert open_for_system(Secret.objects.get(pk=secrets[0].pk), "value") == "secret 0"
