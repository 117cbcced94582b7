"""The crypto app's writers: rotation steps, crypto-shredding and legal holds.

Each action runs in one transaction together with its audit event. Key generation on first use lives
in ``keyring`` (it is part of encrypting), and audits itself the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max

from chatrk.audit.actions import Actor, record
from chatrk.audit.models import Outcome
from chatrk.core.clock import now
from chatrk.crypto import keyring, ledger
from chatrk.crypto.errors import CryptoError, LegalHoldActive
from chatrk.crypto.models import DataKey, KeyKind, KeyState, LegalHold, RotationJob
from chatrk.crypto.providers import get_provider
from chatrk.crypto.registry import subject_index_tables, subject_models


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """A subject such as a contact: ``kind`` names it ("contact"), ``id`` is its row id."""

    kind: str
    id: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


# --- rotation ----------------------------------------------------------------------------------------


def start_workspace_rotation(workspace_id: int, *, actor: Actor) -> RotationJob:
    """Makes a new workspace key version the active one at once; the old one becomes decrypt-only."""
    keyring.active_key(workspace_id, KeyKind.WORKSPACE)  # a workspace that never encrypted gets v1 first
    with transaction.atomic():
        keys = DataKey.objects.select_for_update().filter(workspace_id=workspace_id, kind=KeyKind.WORKSPACE)
        previous = list(keys.filter(state=KeyState.ACTIVE))
        keys.filter(state=KeyState.ACTIVE).update(state=KeyState.DECRYPT_ONLY, state_changed_at=now())
        version = (keys.aggregate(top=Max("version"))["top"] or 0) + 1
        fresh = keyring.new_key_row(workspace_id, KeyKind.WORKSPACE, "", version=version, parent=None)
        fresh.save(force_insert=True)
        job = RotationJob.objects.create(
            workspace_id=workspace_id, target="workspace", new_key=str(fresh.pk), started_at=now()
        )
        record(
            "crypto.key.rotate", actor=actor, workspace_id=workspace_id, target=("datakey", fresh.pk),
            details={"kind": KeyKind.WORKSPACE, "version": version, "job": job.pk},
        )  # fmt: skip
    for row in previous:
        keyring.forget(row.pk)
    return job


def start_kek_rotation(*, actor: Actor) -> RotationJob:
    kek_id = get_provider().rotate()
    with transaction.atomic():
        job = RotationJob.objects.create(target="kek", new_key=kek_id, started_at=now())
        record("crypto.kek.rotate", actor=actor, target=("kek", kek_id[-64:]), details={"job": job.pk})
    return job


def retire_workspace_versions(job: RotationJob, *, actor: Actor) -> list[int]:
    """Destroys the superseded workspace key versions once nothing is wrapped or encrypted under them."""
    if job.workspace_id is None:
        raise CryptoError(f"rotation {job.pk} is not a workspace rotation")
    with transaction.atomic():
        old = DataKey.objects.select_for_update().filter(
            workspace_id=job.workspace_id, kind=KeyKind.WORKSPACE, state=KeyState.DECRYPT_ONLY
        )
        old_ids = list(old.values_list("pk", flat=True))
        if DataKey.objects.filter(parent_id__in=old_ids).exclude(state=KeyState.DESTROYED).exists():
            raise CryptoError(
                "subject keys are still wrapped under the old workspace key; run the rotation again"
            )
        old.update(state=KeyState.DESTROYED, wrapped=b"", state_changed_at=now())
        _finish(job)
        record(
            "crypto.key.retire", actor=actor, workspace_id=job.workspace_id, target=("rotation", job.pk),
            details={"retired": ",".join(map(str, old_ids))},
        )  # fmt: skip
    for key_id in old_ids:
        keyring.forget(key_id)
    return old_ids


def retire_kek_versions(job: RotationJob, *, actor: Actor) -> list[str]:
    provider = get_provider()
    with transaction.atomic():
        if (
            DataKey.objects.filter(parent__isnull=True)
            .exclude(kek_id=job.new_key)
            .exclude(state=KeyState.DESTROYED)
            .exists()
        ):
            raise CryptoError("data keys are still wrapped under an old KEK; run the rotation again")
        retired = [
            version.id for version in provider.versions()
            if version.id != job.new_key and version.state != "destroyed" and provider.retire(version.id)
        ]  # fmt: skip
        _finish(job)
        record(
            "crypto.kek.retire",
            actor=actor,
            target=("rotation", job.pk),
            details={"retired": ",".join(retired)},
        )
    keyring.clear_cache()
    return retired


def _finish(job: RotationJob) -> None:
    job.finished_at = now()
    job.save(update_fields=["finished_at"])


# --- crypto-shredding --------------------------------------------------------------------------------


def shred_subject(workspace_id: int, subject: SubjectRef, *, actor: Actor, reason: str = "") -> int:
    """Destroys the subject's key: every field and file under it becomes unreadable, backups included
    (the erasure ledger outlives database restores). Blind indexes of its rows are cleared too.
    Refused, and the refusal audited, while a legal hold applies. Returns the number of keys destroyed."""
    if _refuse_if_held(workspace_id, subject, actor=actor):
        raise LegalHoldActive(f"{subject} in workspace {workspace_id} is under legal hold")
    with transaction.atomic():
        keys = list(
            DataKey.objects.select_for_update().filter(
                workspace_id=workspace_id, kind=KeyKind.SUBJECT, subject=str(subject)
            )
        )
        if _held(workspace_id, subject):  # a hold placed since the first check: the row locks serialise us
            raise LegalHoldActive(f"{subject} in workspace {workspace_id} is under legal hold")
        if not keys:
            # Nothing written yet; the tombstone refuses future writes all the same.
            keys = [_tombstone(workspace_id, subject)]
        for row in keys:
            ledger.record_erasure(row.pk)  # before commit: a crash leaves the data unreadable, not readable
            row.state, row.wrapped, row.state_changed_at = KeyState.DESTROYED, b"", now()
            row.save(update_fields=["state", "wrapped", "state_changed_at"])
        cleared = _clear_blind_indexes(workspace_id, subject)
        record(
            "crypto.subject.shred", actor=actor, workspace_id=workspace_id, target=(subject.kind, subject.id),
            reason=reason, details={"keys": len(keys), "index_rows_cleared": cleared},
        )  # fmt: skip
    for row in keys:
        keyring.forget(row.pk)
    return len(keys)


def _refuse_if_held(workspace_id: int, subject: SubjectRef, *, actor: Actor) -> bool:
    with transaction.atomic():
        held = _held(workspace_id, subject)
        if held:
            record(
                "crypto.subject.shred", actor=actor, workspace_id=workspace_id,
                target=(subject.kind, subject.id), outcome=Outcome.DENIED, reason="legal hold",
            )  # fmt: skip
    return held


def _held(workspace_id: int, subject: SubjectRef) -> bool:
    holds = LegalHold.objects.filter(
        workspace_id=workspace_id, subject=str(subject), released_at__isnull=True
    )
    return holds.exists()


def _lock_subject_keys(workspace_id: int, subject: SubjectRef) -> None:
    """Takes the same row locks as shredding, so placing a hold and an erasure cannot interleave."""
    keys = DataKey.objects.select_for_update().filter(
        workspace_id=workspace_id, kind=KeyKind.SUBJECT, subject=str(subject)
    )
    list(keys.values_list("pk", flat=True))


def _tombstone(workspace_id: int, subject: SubjectRef) -> DataKey:
    stamp = now()
    return DataKey.objects.create(
        workspace_id=workspace_id, kind=KeyKind.SUBJECT, subject=str(subject), version=1,
        state=KeyState.DESTROYED, wrapped=b"", created_at=stamp, state_changed_at=stamp,
    )  # fmt: skip


def _clear_blind_indexes(workspace_id: int, subject: SubjectRef) -> int:
    """A blind index would still confirm a guessed phone number after erasure, so it goes too."""
    from chatrk.crypto.fields import index_fields

    cleared = 0
    for model, scope in subject_models(subject.kind):
        indexes = index_fields(model)
        if not indexes:
            continue
        rows = model._default_manager.filter(**{scope.workspace: workspace_id, scope.subject: subject.id})
        cleared += rows.update(**{index.attname: None for index in indexes})
    for model, scope in subject_index_tables(subject.kind):
        rows = model._default_manager.filter(**{scope.workspace: workspace_id, scope.subject: subject.id})
        cleared += rows.delete()[0]
    return cleared


# --- legal holds -------------------------------------------------------------------------------------


def place_hold(workspace_id: int, subject: SubjectRef, *, by_user_id: int, reason: str) -> LegalHold:
    with transaction.atomic():
        _lock_subject_keys(workspace_id, subject)
        hold = LegalHold.objects.create(
            workspace_id=workspace_id,
            subject=str(subject),
            reason=reason,
            placed_by_id=by_user_id,
            placed_at=now(),
        )
        record(
            "crypto.hold.place", actor=Actor.user(by_user_id), workspace_id=workspace_id,
            target=("legal_hold", hold.pk), details={"subject": str(subject)},
        )  # fmt: skip
    return hold


def release_hold(hold: LegalHold, *, by_user_id: int) -> None:
    with transaction.atomic():
        hold.released_at, hold.released_by_id = now(), by_user_id
        hold.save(update_fields=["released_at", "released_by"])
        record(
            "crypto.hold.release", actor=Actor.user(by_user_id), workspace_id=hold.workspace_id,
            target=("legal_hold", hold.pk), details={"subject": hold.subject},
        )  # fmt: skip
