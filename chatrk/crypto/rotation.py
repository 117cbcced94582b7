"""Online rotation, as Vault does it: rotate (new version active at once) -> rewrap in batches -> retire.

Batches are keyset-paginated (``pk > cursor ORDER BY pk LIMIT n``) and commit their cursor with their
writes, so memory stays flat and an interrupted run resumes where it stopped. Rewrapping a workspace
key touches subject keys (a key, not data) and the values that sit directly under the workspace key;
data under subject keys is not re-encrypted, its keys are rewrapped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction

from chatrk.audit.actions import Actor
from chatrk.core.clock import now
from chatrk.crypto import actions, envelope, keyring
from chatrk.crypto.envelope import Sealed
from chatrk.crypto.errors import CryptoError
from chatrk.crypto.fields import EncryptedField, binding_for, encrypted_fields, scope_of
from chatrk.crypto.keyring import LoadedKey
from chatrk.crypto.models import DataKey, KeyKind, KeyState, RotationJob
from chatrk.crypto.registry import workspace_keyed_models

type Progress = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    return None


def rotate_workspace(
    workspace_id: int, *, actor: Actor, batch_size: int = 2000, progress: Progress = _no_progress
) -> RotationJob:
    """Starts (or resumes) a rotation of the workspace key and runs it to the end."""
    job = _unfinished(workspace_id) or actions.start_workspace_rotation(workspace_id, actor=actor)
    _wait_for_caches(job)
    new_key = keyring.load_key(int(job.new_key))
    old_ids = list(
        DataKey.objects.filter(workspace_id=workspace_id, kind=KeyKind.WORKSPACE, state=KeyState.DECRYPT_ONLY)
        .values_list("pk", flat=True)
    )  # fmt: skip
    models_to_do = workspace_keyed_models()
    total = (
        job.done
        + _count_subject_keys(old_ids)
        + sum(_rows_after_cursor(job, model).count() for model in models_to_do)
    )

    def report(done: int) -> None:
        progress(done, total)

    report(job.done)
    _rewrap_subject_keys(job, old_ids, new_key, batch_size, report)
    for model in models_to_do:
        _reencrypt_model(job, model, set(old_ids), new_key, batch_size, report)
    actions.retire_workspace_versions(job, actor=actor)
    progress(total, total)
    return job


def rotate_kek(*, actor: Actor, batch_size: int = 500, progress: Progress = _no_progress) -> RotationJob:
    """Starts (or resumes) a KEK rotation: every KEK-wrapped data key is rewrapped under the new primary."""
    job = RotationJob.objects.filter(target="kek", finished_at__isnull=True).first()
    job = job or actions.start_kek_rotation(actor=actor)
    stale = (
        DataKey.objects.filter(parent__isnull=True)
        .exclude(kek_id=job.new_key)
        .exclude(state=KeyState.DESTROYED)
    )
    total = stale.count()
    done = 0
    progress(done, total)
    while True:
        with transaction.atomic():
            # Locked, so a key shredded meanwhile is not written back by its rewrap.
            batch = list(_locked(stale.order_by("pk"))[:batch_size])
            if not batch:
                break
            for row in batch:
                keyring.wrap_into(row, keyring.unwrap(row), None)
                if row.kek_id != job.new_key:
                    raise CryptoError("the KEK provider's primary changed during rotation; run it again")
            _update_columns(DataKey, ["parent_id", "kek_id", "wrapped"], batch)
            done = _advance(job, "kek", batch[-1].pk, len(batch))
        progress(done, total)
    actions.retire_kek_versions(job, actor=actor)
    return job


def workspaces_with_unfinalised_erasures() -> list[int]:
    """Workspaces where a subject key was shredded after their active workspace key was made.

    Until the workspace key that wrapped a shredded key is itself destroyed, and the KEK version that
    wrapped *that* is destroyed too, an old copy of the database (a backup, PostgreSQL's dead tuples
    and WAL, SQLite's free pages) plus the live KEK could still unwrap the shredded key.
    """
    shredded = DataKey.objects.filter(kind=KeyKind.SUBJECT, state=KeyState.DESTROYED)
    latest = dict(shredded.values_list("workspace_id").annotate(last=models.Max("state_changed_at")))
    active = DataKey.objects.filter(
        kind=KeyKind.WORKSPACE, state=KeyState.ACTIVE, workspace_id__in=list(latest)
    )
    made = dict(active.values_list("workspace_id", "created_at"))
    return sorted(ws for ws, last in latest.items() if ws is not None and (ws not in made or made[ws] < last))


def finalise_erasures(
    *, actor: Actor, progress_for: Callable[[str], Progress] = lambda label: _no_progress
) -> list[int]:
    """Makes past erasures final against old copies of the database: rotates (and so destroys) every
    workspace key that wrapped a shredded key, then rotates the KEK, destroying the version that wrapped
    those workspace keys. Returns the workspaces rotated."""
    rotated = workspaces_with_unfinalised_erasures()
    for workspace_id in rotated:
        rotate_workspace(workspace_id, actor=actor, progress=progress_for(f"workspace {workspace_id}"))
    rotate_kek(actor=actor, progress=progress_for("kek"))
    return rotated


def _unfinished(workspace_id: int) -> RotationJob | None:
    return RotationJob.objects.filter(
        workspace_id=workspace_id, target="workspace", finished_at__isnull=True
    ).first()


def _wait_for_caches(job: RotationJob) -> None:
    """Other processes may write under the old version until their key cache expires; start after that."""
    ready_at = job.started_at.timestamp() + settings.CRYPTO_KEY_CACHE_SECONDS
    delay = ready_at - now().timestamp()
    if delay > 0:
        time.sleep(delay)


def _count_subject_keys(old_ids: list[int]) -> int:
    return DataKey.objects.filter(parent_id__in=old_ids).exclude(state=KeyState.DESTROYED).count()


def _rewrap_subject_keys(
    job: RotationJob, old_ids: list[int], new_key: LoadedKey, batch_size: int, report: Callable[[int], None]
) -> None:
    pending = DataKey.objects.filter(parent_id__in=old_ids).exclude(state=KeyState.DESTROYED).order_by("pk")
    while True:
        with transaction.atomic():
            # Locked, so a subject shredded meanwhile does not get its key written back.
            batch = list(_locked(pending.filter(pk__gt=job.cursor.get("subject-keys", 0)))[:batch_size])
            if not batch:
                return
            for row in batch:
                keyring.wrap_into(row, keyring.unwrap(row), new_key)
            _update_columns(DataKey, ["parent_id", "kek_id", "wrapped"], batch)
            done = _advance(job, "subject-keys", batch[-1].pk, len(batch))
        report(done)


def _locked[M: models.Model](rows: models.QuerySet[M]) -> models.QuerySet[M]:
    """FOR UPDATE where the database has it; SQLite's IMMEDIATE transactions already serialise writers."""
    return rows.select_for_update() if connection.features.has_select_for_update else rows


def _reencrypt_model(
    job: RotationJob, model: type[models.Model], old_ids: set[int], new_key: LoadedKey, batch_size: int,
    report: Callable[[int], None],
) -> None:  # fmt: skip
    scope, fields = scope_of(model), encrypted_fields(model)
    columns = ["pk", *(field.attname for field in fields)]
    while True:
        with transaction.atomic():
            # Locked, so a concurrent save is not overwritten by the re-encrypted old value.
            page = _locked(_rows_after_cursor(job, model).order_by("pk"))
            batch = list(page.values_list(*columns)[:batch_size])
            if not batch:
                return
            changed = [_reencrypted(model, scope.workspace, row, fields, old_ids, new_key) for row in batch]
            _update_columns(
                model, [field.attname for field in fields],
                [instance for instance in changed if instance is not None],
            )  # fmt: skip
            done = _advance(job, _step(model), batch[-1][0], len(batch))
        report(done)


def _step(model: type[models.Model]) -> str:
    return f"values:{model._meta.label}"


def _rows_after_cursor(job: RotationJob, model: type[models.Model]) -> models.QuerySet[Any]:
    rows = model._default_manager.filter(**{scope_of(model).workspace: job.workspace_id})
    return rows.filter(pk__gt=job.cursor.get(_step(model), 0))


def _reencrypted(
    model: type[models.Model], workspace_attr: str, row: tuple[Any, ...], fields: Sequence[EncryptedField],
    old_ids: set[int], new_key: LoadedKey,
) -> models.Model | None:  # fmt: skip
    """The row with every value under an old key re-encrypted (no others), or None if none was."""
    pk, values = row[0], row[1:]
    instance = model(pk=pk, **{workspace_attr: new_key.workspace_id})
    touched = False
    for field, value in zip(fields, values, strict=True):
        sealed = None if value is None else Sealed(bytes(value))
        if sealed is not None and envelope.key_id_of(sealed) in old_ids:
            binding = binding_for(instance, field)
            sealed = envelope.encrypt(envelope.decrypt(sealed, binding, subject=""), new_key, binding)
            touched = True
        setattr(instance, field.attname, sealed)
    return instance if touched else None


def _update_columns(model: type[models.Model], attnames: list[str], rows: Sequence[models.Model]) -> None:
    """One prepared UPDATE per row, sent with executemany.

    ``bulk_update`` builds ``CASE WHEN id = ... THEN ...`` over the whole batch, which the database then
    evaluates row by row: quadratic in the batch size. Names come from model metadata, never from input.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = {field.attname: field.column for field in model._meta.concrete_fields if field.column}
    assignments = ", ".join(f"{quote(columns[name])} = %s" for name in attnames)
    pk = columns[model._meta.pk.attname] if model._meta.pk else "id"
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(pk)} = %s"  # noqa: S608
    params = [[*(_db_value(getattr(row, name)) for name in attnames), row.pk] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _db_value(value: Any) -> Any:
    return bytes(value) if isinstance(value, bytes | memoryview) else value


def _advance(job: RotationJob, step: str, last_pk: int, count: int) -> int:
    job.cursor[step] = last_pk
    job.done += count
    job.save(update_fields=["cursor", "done"])
    return job.done
