"""Content-policy API: the review queue, a dry-run check, and the workspace's tuning (scope policy:review).

Held text is not served here: reviewers read it on the review page, where each reading is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError

from chatrk.accounts.models import ApiToken
from chatrk.accounts.scopes import Scope
from chatrk.api.auth import require_scope
from chatrk.api.schemas import Id, IdIn
from chatrk.audit.actions import Actor
from chatrk.policy import actions, queries
from chatrk.policy.engine import PolicyContext, check_text
from chatrk.policy.errors import PolicyError
from chatrk.policy.models import HeldItem, HeldStatus
from chatrk.policy.tuning import TuningInput, as_stored

router = Router(tags=["policy"])


class Error(Schema):
    detail: str


class EvidenceOut(Schema):
    rule: str
    start: int
    end: int
    note: str


class DecisionOut(Schema):
    action: str
    category: str
    score: int
    evidence: list[EvidenceOut]
    explanation: str


class HeldOut(Schema):
    id: Id
    kind: str
    ref_id: Id
    category: str
    score: int
    evidence: list[EvidenceOut]
    explanation: str
    status: str
    held_at: datetime
    decided_at: datetime | None


class DecideIn(Schema):
    comment: str = ""


class DecidedOut(Schema):
    kind: str
    ref_id: Id
    status: str


class CheckIn(Schema):
    text: str


class ExtraTermIO(Schema):
    term: str
    category: str
    action: str


class SettingsIO(Schema):
    hold_at: dict[str, int]
    block_at: dict[str, int]
    extra_terms: list[ExtraTermIO]
    blocked_domains: list[str]
    allowed_domains: list[str]
    same_body_limit: int
    hourly_limit: int
    max_links: int


def _reviewer(token: ApiToken) -> actions.Reviewer:
    return actions.Reviewer(token.workspace_id, token.created_by_id, token.creator_role,  # type: ignore[attr-defined]
                            Actor.token(token.pk))  # fmt: skip


def _held(item: HeldItem) -> HeldOut:
    return HeldOut(
        id=item.pk, kind=item.kind, ref_id=item.ref_id, category=item.category, score=item.score,
        evidence=[EvidenceOut(**e) for e in item.evidence], explanation=item.explanation, status=item.status,
        held_at=item.held_at, decided_at=item.decided_at,
    )  # fmt: skip


@router.get("/held", response={200: list[HeldOut], 400: Error, 401: Error, 403: Error, 422: Error})
def list_held(request: HttpRequest, status: str = HeldStatus.HELD) -> list[HeldOut]:
    token = require_scope(request, Scope.POLICY_REVIEW)
    if status not in HeldStatus.values:
        raise HttpError(400, "status is held, released or rejected.")
    return [_held(item) for item in queries.held_items(token.workspace_id, status)[:500]]


@router.get(
    "/held/{review_id}", response={200: HeldOut, 400: Error, 401: Error, 403: Error, 422: Error, 404: Error}
)
def get_held(request: HttpRequest, review_id: IdIn) -> HeldOut:
    token = require_scope(request, Scope.POLICY_REVIEW)
    item = queries.held_item(token.workspace_id, review_id)
    if item is None:
        raise HttpError(404, "No such held item.")
    return _held(item)


_DECIDE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"comment": {"type": "string", "maxLength": 2000}}}
            }
        },
    }
}


def _decide(request: HttpRequest, review_id: int, decide: Any) -> DecidedOut:
    token = require_scope(request, Scope.POLICY_REVIEW)
    if queries.held_item(token.workspace_id, review_id) is None:
        raise HttpError(404, "No such held item.")
    # The body is optional, so it is read only once the item is known to be this workspace's.
    body = request.body if request.content_type == "application/json" else b""
    try:
        payload = DecideIn.model_validate_json(body or b"{}")
    except ValueError:
        raise HttpError(422, "The body is a JSON object with an optional comment.") from None
    try:
        done = decide(_reviewer(token), review_id, comment=payload.comment)
    except PermissionDenied as error:
        raise HttpError(403, str(error)) from None
    except PolicyError as error:
        raise HttpError(409, error.message) from None
    return DecidedOut(kind=done.kind.value, ref_id=done.ref_id, status=done.status.value)


_DECIDE_RESPONSES = {200: DecidedOut, 401: Error, 403: Error, 404: Error, 409: Error, 422: Error}


@router.post("/held/{review_id}/release", response=_DECIDE_RESPONSES, openapi_extra=_DECIDE_BODY)
def release_held(request: HttpRequest, review_id: IdIn) -> DecidedOut:
    """Releases a held item: the owning app then sends (or submits) it."""
    return _decide(request, review_id, actions.release)


@router.post("/held/{review_id}/reject", response=_DECIDE_RESPONSES, openapi_extra=_DECIDE_BODY)
def reject_held(request: HttpRequest, review_id: IdIn) -> DecidedOut:
    """Rejects a held item: it is never sent."""
    return _decide(request, review_id, actions.reject)


@router.post("/check", response={200: DecisionOut, 400: Error, 401: Error, 403: Error, 422: Error})
def dry_run(request: HttpRequest, payload: CheckIn) -> DecisionOut:
    """What the policy would decide for this text with the workspace's tuning (nothing is counted or kept)."""
    token = require_scope(request, Scope.POLICY_REVIEW)
    if len(payload.text) > 8_192:
        raise HttpError(400, "Texts are checked up to 8,192 characters.")
    decision = check_text(payload.text, context=PolicyContext(tuning=queries.tuning_for(token.workspace_id)))
    return DecisionOut(**decision.as_dict())


@router.get("/settings", response={200: SettingsIO, 400: Error, 401: Error, 403: Error, 422: Error})
def get_settings(request: HttpRequest) -> SettingsIO:
    token = require_scope(request, Scope.POLICY_REVIEW)
    tuning = queries.tuning_for(token.workspace_id)
    stored = as_stored(tuning)
    stored["hold_at"] = {c.value: v for c, v in tuning.hold_at.items()}
    stored["block_at"] = {c.value: v for c, v in tuning.block_at.items()}
    return SettingsIO(**stored)


@router.put("/settings", response={200: SettingsIO, 400: Error, 401: Error, 403: Error, 422: Error})
def put_settings(request: HttpRequest, payload: SettingsIO) -> SettingsIO:
    token = require_scope(request, Scope.POLICY_REVIEW)
    data = TuningInput(
        hold_at=payload.hold_at, block_at=payload.block_at,
        extra_terms=[t.dict() for t in payload.extra_terms],
        blocked_domains=payload.blocked_domains, allowed_domains=payload.allowed_domains,
        same_body_limit=payload.same_body_limit, hourly_limit=payload.hourly_limit,
        max_links=payload.max_links,
    )  # fmt: skip
    try:
        actions.update_settings(_reviewer(token), data)
    except PermissionDenied as error:
        raise HttpError(403, str(error)) from None
    except PolicyError as error:
        raise HttpError(400, error.message) from None
    return get_settings(request)
