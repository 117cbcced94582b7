"""``reveal``: the one way an encrypted message or contact field is decrypted for a person to read.

It checks that the member may read (``Perm.READ_INBOX`` unless another permission is named), that every
row belongs to the member's workspace, and writes ONE audit event per call (a page of rows), not one per
field. ``reveal_together`` reads several models' rows for one page (a thread and the list beside it) in
one audited read: one query for all their keys, one transaction, the same event per model.
``reveal_for_token`` is the same read for an API token: the token is the actor, and the role
its creator holds now must grant the permission. Values whose subject was crypto-shredded come back
as ``ERASED``; tampered or misplaced values raise, because showing a page with silently missing data
would hide an attack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from django.core.exceptions import PermissionDenied
from django.db import models, transaction

from chatrk.accounts.models import ApiToken, User
from chatrk.audit.actions import Actor, Origin, record
from chatrk.audit.models import Outcome
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Perm, role_allows
from chatrk.crypto.errors import CryptoError, SubjectShredded
from chatrk.crypto.fields import EncryptedField, key_ids_of, open_for_system, scope_of
from chatrk.crypto.keyring import preload


class Erased:
    """Stands in for a value whose key was destroyed."""

    def __repr__(self) -> str:
        return "[erased]"

    __str__ = __repr__


ERASED: Final = Erased()

type Revealed = dict[str, Any]
type Wanted = tuple[Sequence[models.Model], Sequence[str]]  # rows of one model, and the fields to open


def reveal[M: models.Model](
    user: User, membership: Membership, rows: Sequence[M], fields: Sequence[str], *,
    perm: Perm = Perm.READ_INBOX, origin: Origin | None = None, purpose: str = "display",
) -> list[Revealed]:  # fmt: skip
    """Decrypts ``fields`` of ``rows`` for ``user``; one dict per row, in order, keyed by field name."""
    refusal = _refusal(user, membership, rows, perm)
    actor = Actor.user(user.pk)
    [revealed] = _reveal(actor, membership.workspace_id, refusal, [(rows, fields)], origin, purpose)
    return revealed


def reveal_together(
    user: User, membership: Membership, wanted: Sequence[Wanted], *,
    perm: Perm = Perm.READ_INBOX, origin: Origin | None = None, purpose: str = "display",
) -> list[list[Revealed]]:  # fmt: skip
    """``reveal`` of several (rows, fields) at once, one list per entry of ``wanted``, in order: the keys
    of them all in one query, one transaction with one event per entry. Any refusal refuses them all."""
    refusal = next((found for rows, _ in wanted if (found := _refusal(user, membership, rows, perm))), "")
    return _reveal(Actor.user(user.pk), membership.workspace_id, refusal, wanted, origin, purpose)


def reveal_for_token[M: models.Model](
    token: ApiToken, rows: Sequence[M], fields: Sequence[str], *,
    perm: Perm = Perm.READ_INBOX, origin: Origin | None = None, purpose: str = "api",
) -> list[Revealed]:  # fmt: skip
    """Decrypts ``fields`` of ``rows`` for an API token (the audit event names the token as the actor)."""
    refusal = _token_refusal(token, rows, perm)
    actor = Actor.token(token.pk)
    [revealed] = _reveal(actor, token.workspace_id, refusal, [(rows, fields)], origin, purpose)
    return revealed


def _reveal(
    actor: Actor, workspace_id: int, refusal: str, wanted: Sequence[Wanted], origin: Origin | None,
    purpose: str,
) -> list[list[Revealed]]:  # fmt: skip
    described = [_details(rows, fields, purpose) for rows, fields in wanted]
    if refusal:
        with transaction.atomic():
            for details in described:
                record("crypto.reveal", actor=actor, workspace_id=workspace_id,
                       outcome=Outcome.DENIED, reason=refusal, origin=origin, details=details)  # fmt: skip
        raise PermissionDenied(refusal)
    _preload_keys(wanted)
    revealed = []
    with transaction.atomic():
        for (rows, fields), details in zip(wanted, described, strict=True):
            revealed.append([{name: _open(row, name) for name in fields} for row in rows])
            details["ids"] = ",".join(str(row.pk) for row in rows)
            record("crypto.reveal", actor=actor, workspace_id=workspace_id,
                   origin=origin, details=details)  # fmt: skip
    return revealed


def _details(rows: Sequence[models.Model], fields: Sequence[str], purpose: str) -> dict[str, str | int]:
    """The audit event's details for one model's rows; refuses a field that is not encrypted."""
    model = _one_model(rows)
    if model is not None:
        _check_fields(model, fields)
    return {
        "model": model._meta.label_lower if model else "",
        "fields": ",".join(fields),
        "rows": len(rows),
        "purpose": purpose,
    }


def _token_refusal(token: ApiToken, rows: Sequence[models.Model], perm: Perm) -> str:
    if token.revoked_at is not None or token.expires_at <= now():
        return "token not valid"
    role = (
        Membership.objects.filter(workspace_id=token.workspace_id, user_id=token.created_by_id)
        .values_list("role", flat=True)
        .first()
    )
    if role is None or not role_allows(role, perm):
        return f"token's creator lacks {perm}"
    return _foreign_rows(token.workspace_id, rows)


def _refusal(user: User, membership: Membership, rows: Sequence[models.Model], perm: Perm) -> str:
    if not user.is_active or membership.user_id != user.pk:
        return "not a member"
    if not role_allows(membership.role, perm):
        return f"role lacks {perm}"
    return _foreign_rows(membership.workspace_id, rows)


def _foreign_rows(workspace_id: int, rows: Sequence[models.Model]) -> str:
    for row in rows:
        if scope_of(row).workspace_id(row) != workspace_id:
            return "row of another workspace"
    return ""


def _one_model[M: models.Model](rows: Sequence[M]) -> type[M] | None:
    kinds = {type(row) for row in rows}
    if len(kinds) > 1:
        raise CryptoError("reveal takes rows of one model per call")
    return kinds.pop() if kinds else None


def _check_fields(model: type[models.Model], fields: Sequence[str]) -> None:
    for name in fields:
        if not isinstance(model._meta.get_field(name), EncryptedField):
            raise CryptoError(f"{model._meta.label}.{name} is not an encrypted field")


def _preload_keys(wanted: Sequence[Wanted]) -> None:
    """One query for the keys of a whole page, whatever the number of subjects and models on it."""
    preload(set().union(*(key_ids_of(rows, fields) for rows, fields in wanted)))


def _open(row: models.Model, name: str) -> Any:
    try:
        return open_for_system(row, name)
    except SubjectShredded:
        return ERASED
