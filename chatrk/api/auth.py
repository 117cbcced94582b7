"""Bearer-token authentication for the REST API: the token decides the workspace and the scopes."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import OuterRef, Subquery
from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer

from chatrk.accounts.actions import TOKEN_PREFIX
from chatrk.accounts.models import ApiToken
from chatrk.accounts.scopes import Scope
from chatrk.core import tokens
from chatrk.core.clock import now
from chatrk.core.models import Membership

# Recording every use would turn each read into a write; a minute's precision is enough.
LAST_USED_PRECISION = timedelta(minutes=1)


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        _, _, secret = token.removeprefix(TOKEN_PREFIX).partition("_")
        if not token.startswith(TOKEN_PREFIX) or not secret:
            return None
        moment = now()
        creator_role = Membership.objects.filter(workspace=OuterRef("workspace"), user=OuterRef("created_by"))
        found = (
            ApiToken.objects.filter(
                token_hash=tokens.digest(secret), revoked_at__isnull=True, expires_at__gt=moment
            )
            .annotate(creator_role=Subquery(creator_role.values("role")[:1]))
            .select_related("workspace")
            .first()
        )
        if found is None or found.creator_role is None:  # a token dies with its creator's membership
            return None
        if found and (found.last_used_at is None or moment - found.last_used_at > LAST_USED_PRECISION):
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=moment)
        return found


def _creator_role(token: ApiToken) -> str:
    """The role of the token's creator in its workspace now (annotated by ``TokenAuth``)."""
    role = getattr(token, "creator_role", None)
    if role is None:
        role = (
            Membership.objects.filter(workspace_id=token.workspace_id, user_id=token.created_by_id)
            .values_list("role", flat=True)
            .first()
        )
    return role or ""


def token_of(request: HttpRequest) -> ApiToken:
    token = getattr(request, "auth", None)
    if not isinstance(token, ApiToken):
        raise HttpError(401, "An API token is required.")
    return token


def require_scope(request: HttpRequest, scope: Scope) -> ApiToken:
    """The token must carry the scope, and its creator must still hold the permission behind it."""
    token = token_of(request)
    if scope.value not in token.scopes:
        raise HttpError(403, f"This token lacks the scope {scope.value}.")
    if not scope.allowed_for(_creator_role(token)):
        raise HttpError(403, f"The token's creator no longer holds the role for {scope.value}.")
    return token
