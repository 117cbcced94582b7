"""Who may open a workspace page: decided here, from ``chatrk.core.roles``, for every route."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render

from chatrk.accounts.actions import origin_of
from chatrk.audit.actions import Actor, record
from chatrk.audit.models import Outcome
from chatrk.core.models import Membership
from chatrk.core.queries import membership_of
from chatrk.core.roles import Perm, role_allows

type WorkspaceView = Callable[..., HttpResponseBase]  # streaming answers (CSV exports) too


def membership(request: HttpRequest) -> Membership:
    found: Membership = request.membership  # type: ignore[attr-defined]
    return found


def workspace_page(perm: Perm) -> Callable[[WorkspaceView], WorkspaceView]:
    """Signed in, a member of the workspace in the URL (else 404: its existence is not revealed),
    and holding ``perm`` (else 403, recorded as an authorisation failure)."""

    def decorate(view: WorkspaceView) -> WorkspaceView:
        @wraps(view)
        @login_required
        def wrapper(request: HttpRequest, ws: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
            found = membership_of(int(request.user.pk or 0), ws)
            if found is None:
                raise Http404("No such workspace")
            if not role_allows(found.role, perm):
                record(
                    "authz.denied",
                    actor=Actor.user(found.user_id),
                    workspace_id=found.workspace_id,
                    outcome=Outcome.DENIED,
                    reason=perm.value,
                    origin=origin_of(request),
                    details={"path": request.resolver_match.url_name if request.resolver_match else ""},
                )
                return render(
                    request,
                    "web/error.html",
                    {"title": "Not allowed", "message": "Your role in this workspace does not allow this."},
                    status=403,
                )
            request.membership = found  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
