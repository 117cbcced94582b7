"""The REST API (OpenAPI 3.1): transport only; every operation is scoped to the token's workspace."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError, ValidationError

from chatrk.accounts.scopes import Scope
from chatrk.api import channels, contacts, conversations, work
from chatrk.api.auth import TokenAuth, require_scope
from chatrk.api.schemas import DENIED, Error, Id, IdIn
from chatrk.api.templates import router as templates_router
from chatrk.audit.api import router as audit_router
from chatrk.core import queries
from chatrk.inbox.queries import MAX_ID

api = NinjaAPI(
    title="Chatrk API",
    version="1",
    urls_namespace="api",
    docs_url=None,
    auth=TokenAuth(),
    description="Authenticate with `Authorization: Bearer chk_…`, a workspace API token.",
)
api.add_router("/templates", templates_router)


@api.exception_handler(ValidationError)
def invalid_request(request: HttpRequest, error: ValidationError) -> HttpResponse:
    """422 with ``{"detail": "…"}`` like every other error; names the fields, never echoes the input."""
    where = "; ".join(
        f"{'.'.join(str(part) for part in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in error.errors
    )
    return api.create_response(request, {"detail": f"Invalid request. {where}"[:1000]}, status=422)


# One router per resource; each is mounted here with one line.
api.add_router("", channels.router)
api.add_router("", contacts.router)
api.add_router("", conversations.router)
api.add_router("", work.router)
api.add_router("/audit", audit_router)


class WorkspaceOut(Schema):
    id: Id
    name: str
    slug: str


class MemberOut(Schema):
    id: Id
    name: str
    role: str


@api.get("/workspace", response={200: WorkspaceOut, **DENIED}, tags=["workspace"])
def get_workspace(request: HttpRequest) -> WorkspaceOut:
    token = require_scope(request, Scope.WORKSPACE_READ)
    workspace = token.workspace
    return WorkspaceOut(id=workspace.pk, name=workspace.name, slug=workspace.slug)


@api.get("/members", response={200: list[MemberOut], **DENIED}, tags=["members"])
def list_members(request: HttpRequest) -> list[MemberOut]:
    token = require_scope(request, Scope.MEMBERS_READ)
    return [MemberOut(id=m.pk, name=m.user.name, role=m.role) for m in queries.members(token.workspace_id)]


@api.get("/members/{member_id}", response={200: MemberOut, 404: Error, **DENIED}, tags=["members"])
def get_member(request: HttpRequest, member_id: IdIn) -> MemberOut:
    token = require_scope(request, Scope.MEMBERS_READ)
    member = (
        queries.members(token.workspace_id).filter(pk=member_id).first() if 0 < member_id <= MAX_ID else None
    )
    if member is None:
        raise HttpError(404, "No such member.")
    return MemberOut(id=member.pk, name=member.user.name, role=member.role)


from chatrk.api.policy import router as policy_router  # noqa: E402

api.add_router("/policy", policy_router)

api.add_router("/consent", "chatrk.consent.api.router")

api.add_router("/", "chatrk.outbound.api.router")  # sending: text, media, template, … (docs/outbound.md)
