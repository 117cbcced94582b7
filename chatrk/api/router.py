"""The REST API (OpenAPI 3.1): transport only; every operation is scoped to the token's workspace."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError

from chatrk.accounts.scopes import Scope
from chatrk.api.auth import TokenAuth, require_scope
from chatrk.core import queries

api = NinjaAPI(
    title="Chatrk API",
    version="1",
    urls_namespace="api",
    docs_url=None,
    auth=TokenAuth(),
    description="Authenticate with `Authorization: Bearer chk_…`, a workspace API token.",
)


class Error(Schema):
    detail: str


class WorkspaceOut(Schema):
    id: int
    name: str
    slug: str


class MemberOut(Schema):
    id: int
    name: str
    role: str


@api.get("/workspace", response={200: WorkspaceOut, 401: Error, 403: Error}, tags=["workspace"])
def get_workspace(request: HttpRequest) -> WorkspaceOut:
    token = require_scope(request, Scope.WORKSPACE_READ)
    workspace = token.workspace
    return WorkspaceOut(id=workspace.pk, name=workspace.name, slug=workspace.slug)


@api.get("/members", response={200: list[MemberOut], 401: Error, 403: Error}, tags=["members"])
def list_members(request: HttpRequest) -> list[MemberOut]:
    token = require_scope(request, Scope.MEMBERS_READ)
    return [MemberOut(id=m.pk, name=m.user.name, role=m.role) for m in queries.members(token.workspace_id)]


@api.get(
    "/members/{member_id}", response={200: MemberOut, 401: Error, 403: Error, 404: Error}, tags=["members"]
)
def get_member(request: HttpRequest, member_id: int) -> MemberOut:
    token = require_scope(request, Scope.MEMBERS_READ)
    member = queries.members(token.workspace_id).filter(pk=member_id).first()
    if member is None:
        raise HttpError(404, "No such member.")
    return MemberOut(id=member.pk, name=member.user.name, role=member.role)


api.add_router("/", "chatrk.outbound.api.router")  # sending: text, media, template, … (docs/outbound.md)
