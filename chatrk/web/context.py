"""What every page's navigation needs: the member's workspaces and what their role may open."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from chatrk.core.queries import memberships_of
from chatrk.core.roles import Perm, role_allows


def navigation(request: HttpRequest) -> dict[str, Any]:
    found = getattr(request, "membership", None)
    if found is None or not request.user.is_authenticated:
        return {"nav_user": request.user if request.user.is_authenticated else None}
    return {
        "nav_user": request.user,
        "nav_membership": found,
        "nav_workspace": found.workspace,
        "nav_workspaces": memberships_of(request.user.pk),
        "nav_can": {perm.name.lower(): role_allows(found.role, perm) for perm in Perm},
    }
