"""Template operations of the REST API (transport only: parse, check scope, call actions).

Scopes: ``templates:read`` (list, get, preview), ``templates:write`` (lint, create, edit, submit for
review, sync), ``templates:approve`` (approve, reject — the token's creator must hold
APPROVE_TEMPLATES, and four-eyes still applies: nobody approves a version they wrote or submitted).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ValidationError

from chatrk.accounts.models import ApiToken
from chatrk.accounts.scopes import Scope
from chatrk.api.auth import require_scope
from chatrk.api.schemas import Id, IdIn
from chatrk.audit.actions import Actor
from chatrk.core.models import Membership
from chatrk.msgtemplates import actions, queries
from chatrk.msgtemplates.errors import ParameterError, TemplateError, TemplateInvalid
from chatrk.msgtemplates.lint import lint
from chatrk.msgtemplates.models import Template
from chatrk.msgtemplates.sending import TemplateValues, render

router = Router(tags=["templates"])


class Error(Schema):
    detail: str


class FieldError(Schema):
    field: str
    message: str


class Invalid(Schema):
    detail: str
    errors: list[FieldError] = []  # empty when the request itself was malformed


class TemplateOut(Schema):
    id: Id
    channel_id: Id
    name: str
    language: str
    category: str
    parameter_format: str
    components: list[Any]
    origin: str
    status: str
    review_comment: str
    meta_status: str
    meta_reason: str
    meta_quality: str
    meta_template_id: str
    version: int | None
    approved_version: int | None
    created_at: datetime
    updated_at: datetime


class TemplateIn(Schema):
    channel_id: IdIn
    definition: dict[str, Any]


class DefinitionIn(Schema):
    definition: dict[str, Any]


class CommentIn(Schema):
    comment: str = ""


class ValuesIn(Schema):
    body: list[str] | dict[str, str] = []
    header: list[str] | dict[str, str] = []
    buttons: dict[int, str] = {}


class PreviewOut(Schema):
    header: str
    body: str
    footer: str
    buttons: list[str]
    text: str


class SyncIn(Schema):
    channel_id: IdIn


class Accepted(Schema):
    detail: str


def _out(t: Template) -> TemplateOut:
    return TemplateOut(
        id=t.pk, channel_id=t.channel_id, name=t.name, language=t.language, category=t.category,
        parameter_format=t.parameter_format, components=t.components, origin=t.origin, status=t.status,
        review_comment=t.review_comment, meta_status=t.meta_status, meta_reason=t.meta_reason,
        meta_quality=t.meta_quality, meta_template_id=t.meta_template_id,
        version=t.current_version.number if t.current_version else None,
        approved_version=t.approved_version.number if t.approved_version else None,
        created_at=t.created_at, updated_at=t.updated_at,
    )  # fmt: skip


def _member(token: ApiToken) -> Membership:
    found = Membership.objects.filter(workspace_id=token.workspace_id, user_id=token.created_by_id).first()
    if found is None:
        raise HttpError(403, "The token's creator is no longer a member.")
    return found


def _template(token: ApiToken, template_id: int) -> Template:
    found = queries.template(token.workspace_id, template_id)
    if found is None:
        raise HttpError(404, "No such template.")
    return found


def _body[S: Schema](request: HttpRequest, model: type[S]) -> S | None:
    """An optional JSON body, read after the template is found (so another workspace's id is a 404)."""
    if request.content_type != "application/json" or not request.body:
        return None  # bodies are JSON; anything else is treated as no body
    try:
        return model.model_validate_json(request.body)
    except ValidationError:
        raise HttpError(422, "The request body is not valid JSON of the documented shape.") from None


def _documented(model: type[Schema]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {"requestBody": {"required": False, "content": {"application/json": {"schema": schema}}}}


def _invalid(error: TemplateInvalid) -> Status[Invalid]:
    errors = [FieldError(field=e.field, message=e.message) for e in error.errors]
    return Status(422, Invalid(detail=error.message, errors=errors))


_RESPONSES: dict[int, Any] = {401: Error, 403: Error, 404: Error, 409: Error, 422: Invalid}


@router.get("", response={200: list[TemplateOut], 401: Error, 403: Error})
def list_templates(request: HttpRequest, status: str | None = None) -> list[TemplateOut]:
    token = require_scope(request, Scope.TEMPLATES_READ)
    rows = queries.templates(token.workspace_id).select_related("approved_version")
    if status:
        rows = rows.filter(status=status)
    return [_out(t) for t in rows[:1000]]


@router.post("/lint", response={200: list[FieldError], 401: Error, 403: Error})
def lint_definition(request: HttpRequest, payload: DefinitionIn) -> list[FieldError]:
    require_scope(request, Scope.TEMPLATES_WRITE)
    return [FieldError(field=e.field, message=e.message) for e in lint(payload.definition)]


@router.post("/sync", response={202: Accepted, 401: Error, 403: Error, 404: Error})
def sync(request: HttpRequest, payload: SyncIn) -> Status[Accepted]:
    token = require_scope(request, Scope.TEMPLATES_WRITE)
    channel = queries.channel(token.workspace_id, payload.channel_id)
    if channel is None:
        raise HttpError(404, "No such channel.")
    from chatrk.msgtemplates import tasks

    transaction.on_commit(lambda: tasks.sync_channel_templates.enqueue(channel.pk))
    return Status(202, Accepted(detail="Sync with Meta started."))


@router.post("", response={201: TemplateOut, **_RESPONSES})
def create_template(request: HttpRequest, payload: TemplateIn) -> Status[TemplateOut] | Status[Invalid]:
    token = require_scope(request, Scope.TEMPLATES_WRITE)
    channel = queries.channel(token.workspace_id, payload.channel_id)
    if channel is None:
        raise HttpError(404, "No such channel.")
    try:
        template = actions.create_template(
            _member(token), channel, payload.definition, actor=Actor.token(token.pk)
        )
    except TemplateInvalid as error:
        return _invalid(error)
    except TemplateError as error:
        raise HttpError(409, error.message) from None
    return Status(201, _out(template))


@router.get("/{template_id}", response={200: TemplateOut, 401: Error, 403: Error, 404: Error})
def get_template(request: HttpRequest, template_id: IdIn) -> TemplateOut:
    token = require_scope(request, Scope.TEMPLATES_READ)
    return _out(_template(token, template_id))


@router.put(
    "/{template_id}", response={200: TemplateOut, **_RESPONSES}, openapi_extra=_documented(DefinitionIn)
)
def edit_template(request: HttpRequest, template_id: IdIn) -> Status[TemplateOut] | Status[Invalid]:
    """Replace the definition: a new version, back to draft (and through review again)."""
    token = require_scope(request, Scope.TEMPLATES_WRITE)
    template = _template(token, template_id)
    payload = _body(request, DefinitionIn)
    if payload is None:
        raise HttpError(422, "Send the template's definition.")
    try:
        template = actions.edit_template(
            _member(token), template, payload.definition, actor=Actor.token(token.pk)
        )
    except TemplateInvalid as error:
        return _invalid(error)
    except TemplateError as error:
        raise HttpError(409, error.message) from None
    return Status(200, _out(template))


def _step(request: HttpRequest, template_id: int, scope: Scope, step: Any, *, comment: bool = False) -> Any:
    token = require_scope(request, scope)
    template = _template(token, template_id)
    kwargs: dict[str, str] = {}
    if comment:
        payload = _body(request, CommentIn)
        kwargs["comment"] = payload.comment if payload else ""
    try:
        done = step(_member(token), template, actor=Actor.token(token.pk), **kwargs)
    except TemplateInvalid as error:
        return _invalid(error)
    except TemplateError as error:
        raise HttpError(409, error.message) from None
    return Status(200, _out(queries.template(token.workspace_id, done.pk) or done))


@router.post("/{template_id}/submit", response={200: TemplateOut, **_RESPONSES})
def submit_template(request: HttpRequest, template_id: IdIn) -> Any:
    """Submit a draft (or rejected) template for internal review."""
    return _step(request, template_id, Scope.TEMPLATES_WRITE, actions.submit_for_review)


@router.post(
    "/{template_id}/approve", response={200: TemplateOut, **_RESPONSES}, openapi_extra=_documented(CommentIn)
)
def approve_template(request: HttpRequest, template_id: IdIn) -> Any:
    """Approve the version in review; Chatrk then submits it to Meta."""
    return _step(request, template_id, Scope.TEMPLATES_APPROVE, actions.approve_template, comment=True)


@router.post(
    "/{template_id}/reject", response={200: TemplateOut, **_RESPONSES}, openapi_extra=_documented(CommentIn)
)
def reject_template(request: HttpRequest, template_id: IdIn) -> Any:
    """Reject the version in review, with a comment (required) for its author."""
    return _step(request, template_id, Scope.TEMPLATES_APPROVE, actions.reject_template, comment=True)


@router.post(
    "/{template_id}/preview",
    response={200: PreviewOut, 401: Error, 403: Error, 404: Error, 422: Error},
    openapi_extra=_documented(ValuesIn),
)
def preview_template(request: HttpRequest, template_id: IdIn) -> PreviewOut:
    """The text a customer would see, with the given values (or the template's examples)."""
    token = require_scope(request, Scope.TEMPLATES_READ)
    template = _template(token, template_id)
    values = _body(request, ValuesIn) or ValuesIn()
    try:
        shown = render(
            template, TemplateValues(body=values.body, header=values.header, buttons=values.buttons)
        )
    except ParameterError as error:
        raise HttpError(422, error.message) from None
    return PreviewOut(
        header=shown.header,
        body=shown.body,
        footer=shown.footer,
        buttons=list(shown.buttons),
        text=shown.text,
    )
