"""``reveal``: the one way an encrypted message or contact field is decrypted for a person to read.

It checks that the member may read (``Perm.READ_INBOX`` unless another permission is named), that every
row belongs to the member's workspace, and writes ONE audit event per call (a page of rows), not one per
field. ``reveal_for_token`` is the same read for an API token: the token is the actor, and the role
its creator holds now must grant the permission. Values whose subject was crypto-shredded come back
as ``ERASED``; tampered or misplaced values raise, because showing a page with silently missing data
would hide an attack.
"""

from __future__ import annotations

import contextlib
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
from chatrk.crypto.envelope import Sealed, key_id_of
from chatrk.crypto.errors import CryptoError, SubjectShredded
from chatrk.crypto.fields import EncryptedField, open_for_system, scope_of
from chatrk.crypto.keyring import preload


class Erased:
    """Stands in for a value whose key was destroyed."""

    def __repr__(self) -> str:
        return "[erased]"

    __str__ = __repr__


ERASED: Final = Erased()

type Revealed = dict[str, Any]


def reveal[M: models.Model](
    user: User, membership: Membership, rows: Sequence[M], fields: Sequence[str], *,
    perm: Perm = Perm.READ_INBOX, origin: Origin | None = None, purpose: str = "display",
) -> list[Revealed]:  # fmt: skip
    """Decrypts ``fields`` of ``rows`` for ``user``; one dict per row, in order, keyed by field name."""
    refusal = _refusal(user, membership, rows, perm)
    return _reveal(Actor.user(user.pk), membership.workspace_id, refusal, rows, fields, origin, purpose)


def reveal_for_token[M: models.Model](
    token: ApiToken, rows: Sequence[M], fields: Sequence[str], *,
    perm: Perm = Perm.READ_INBOX, origin: Origin | None = None, purpose: str = "api",
) -> list[Revealed]:  # fmt: skip
    """Decrypts ``fields`` of ``rows`` for an API token (the audit event names the token as the actor)."""
    refusal = _token_refusal(token, rows, perm)
    return _reveal(Actor.token(token.pk), token.workspace_id, refusal, rows, fields, origin, purpose)


def _reveal[M: models.Model](
    actor: Actor, workspace_id: int, refusal: str, rows: Sequence[M], fields: Sequence[str],
    origin: Origin | None, purpose: str,
) -> list[Revealed]:  # fmt: skip
    model = _one_model(rows)
    label = model._meta.label_lower if model else ""
    details: dict[str, str | int] = {
        "model": label,
        "fields": ",".join(fields),
        "rows": len(rows),
        "purpose": purpose,
    }
    if refusal:
        with transaction.atomic():
            record("crypto.reveal", actor=actor, workspace_id=workspace_id,
                   outcome=Outcome.DENIED, reason=refusal, origin=origin, details=details)  # fmt: skip
        raise PermissionDenied(refusal)
    if model is not None:
        _check_fields(model, fields)
    _preload_keys(rows, fields)
    with transaction.atomic():
        revealed = [{name: _open(row, name) for name in fields} for row in rows]
        details["ids"] = ",".join(str(row.pk) for row in rows)
        record("crypto.reveal", actor=actor, workspace_id=workspace_id,
               origin=origin, details=details)  # fmt: skip
    return revealed


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


def _preload_keys(rows: Sequence[models.Model], fields: Sequence[str]) -> None:
    """One query for the keys of a whole page, whatever the number of subjects on it."""
    key_ids: set[int] = set()
    for row in rows:
        for name in fields:
            field = row._meta.get_field(name)
            value = getattr(row, field.attname) if isinstance(field, EncryptedField) else None
            if isinstance(value, Sealed):
                with contextlib.suppress(CryptoError):
                    key_ids.add(key_id_of(value))
    preload(key_ids)


def _open(row: models.Model, name: str) -> Any:
    try:
        return open_for_system(row, name)
    except SubjectShredded:
        return ERASED
