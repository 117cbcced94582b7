"""Canned responses: the workspace's saved replies, inserted in the composer by name or "/shortcut".

Their text is the business's own wording, not personal data, so it is stored in clear; changes are
recorded in the audit log (with the shortcut, never the text).
"""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models import QuerySet

from chatrk.audit.actions import Actor, Origin, record
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Perm, role_allows
from chatrk.inbox.errors import InboxError
from chatrk.inbox.models import CannedResponse

SHORTCUT = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_TEXT = 4096


def canned_responses(workspace_id: int) -> QuerySet[CannedResponse]:
    found: QuerySet[CannedResponse] = CannedResponse.objects.for_workspace(workspace_id).order_by("shortcut")
    return found


def canned_response(workspace_id: int, canned_id: int) -> CannedResponse | None:
    found = CannedResponse.objects.for_workspace(workspace_id).filter(pk=canned_id).first()
    return found if isinstance(found, CannedResponse) else None


def by_shortcut(workspace_id: int, shortcut: str) -> CannedResponse | None:
    found = CannedResponse.objects.for_workspace(workspace_id).filter(shortcut=shortcut.lower()).first()
    return found if isinstance(found, CannedResponse) else None


def _checked(by: Membership, shortcut: str, text: str) -> tuple[str, str]:
    if not role_allows(by.role, Perm.MANAGE_CANNED):
        raise InboxError("Your role does not allow changing canned responses.")
    shortcut = shortcut.strip().removeprefix("/").lower()
    if not SHORTCUT.fullmatch(shortcut):
        raise InboxError(
            "A shortcut is 1 to 32 lower-case letters, digits, hyphens or underscores, like hours or "
            "returns-policy.",
            field="shortcut",
        )
    text = text.strip()
    if not text:
        raise InboxError("Write the text to insert.", field="text")
    if len(text) > MAX_TEXT:
        raise InboxError(f"The text is at most {MAX_TEXT} characters (WhatsApp's limit).", field="text")
    return shortcut, text


def _taken(workspace_id: int, shortcut: str, *, other_than: int | None = None) -> bool:
    found = CannedResponse.objects.for_workspace(workspace_id).filter(shortcut=shortcut)
    if other_than is not None:
        found = found.exclude(pk=other_than)
    return bool(found.exists())


def create_canned(
    by: Membership, shortcut: str, text: str, *, origin: Origin | None = None
) -> CannedResponse:
    shortcut, text = _checked(by, shortcut, text)
    with transaction.atomic():
        if _taken(by.workspace_id, shortcut):
            raise InboxError(f"/{shortcut} already exists: pick another shortcut.", field="shortcut")
        canned = CannedResponse.objects.create(
            workspace_id=by.workspace_id, shortcut=shortcut, text=text, created_by_id=by.user_id,
            created_at=now(),
        )  # fmt: skip
        record("canned.created", actor=Actor.user(by.user_id), workspace_id=by.workspace_id,
               target=("canned_response", canned.pk), origin=origin,
               details={"shortcut": shortcut})  # fmt: skip
    return canned


def update_canned(
    by: Membership, canned: CannedResponse, shortcut: str, text: str, *, origin: Origin | None = None
) -> CannedResponse:
    if canned.workspace_id != by.workspace_id:
        raise InboxError("No such canned response.")
    shortcut, text = _checked(by, shortcut, text)
    with transaction.atomic():
        if _taken(by.workspace_id, shortcut, other_than=canned.pk):
            raise InboxError(f"/{shortcut} already exists: pick another shortcut.", field="shortcut")
        locked = CannedResponse.objects.select_for_update().get(pk=canned.pk)
        locked.shortcut, locked.text = shortcut, text
        locked.save(update_fields=["shortcut", "text"])
        record("canned.updated", actor=Actor.user(by.user_id), workspace_id=by.workspace_id,
               target=("canned_response", locked.pk), origin=origin,
               details={"shortcut": shortcut})  # fmt: skip
    return locked


def delete_canned(by: Membership, canned: CannedResponse, *, origin: Origin | None = None) -> None:
    if canned.workspace_id != by.workspace_id:
        raise InboxError("No such canned response.")
    if not role_allows(by.role, Perm.MANAGE_CANNED):
        raise InboxError("Your role does not allow changing canned responses.")
    with transaction.atomic():
        CannedResponse.objects.filter(pk=canned.pk).delete()
        record("canned.deleted", actor=Actor.user(by.user_id), workspace_id=by.workspace_id,
               target=("canned_response", canned.pk), origin=origin,
               details={"shortcut": canned.shortcut})  # fmt: skip
