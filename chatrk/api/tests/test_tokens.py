"""API tokens: created on the page, shown once, stored hashed, scoped, expiring, revocable."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client

from chatrk.accounts.models import ApiToken
from chatrk.audit.models import AuditEvent
from chatrk.core import tokens
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Role
from chatrk.testing import add_member, make_workspace, signed_in

pytestmark = pytest.mark.django_db


def create(client: Client, slug: str, scopes: list[str], days: int = 30) -> str:
    response = client.post(f"/w/{slug}/tokens/create/", {"name": "CRM sync", "scopes": scopes, "days": days})
    assert response.status_code == 200, response.content
    match = re.search(rb'id="token-secret" class="secret" readonly value="(chk_[^"]+)"', response.content)
    assert match is not None
    return match.group(1).decode()


def api(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_token_is_shown_once_and_stored_as_a_hash() -> None:
    workspace = make_workspace()
    owner = add_member(workspace, role=Role.OWNER)
    client = signed_in(owner.user)
    secret = create(client, workspace.slug, ["workspace:read"])
    row = ApiToken.objects.get()
    assert row.token_hash == tokens.digest(secret.split("_", 2)[2])
    assert secret not in client.get(f"/w/{workspace.slug}/tokens/").content.decode()
    body = api(secret).get("/api/v1/workspace").json()
    assert body == {"id": str(workspace.pk), "name": workspace.name, "slug": workspace.slug}
    assert AuditEvent.objects.get(action="token.created").details == {"scopes": "workspace:read"}


def test_scopes_are_enforced() -> None:
    workspace = make_workspace()
    owner = add_member(workspace, role=Role.OWNER)
    secret = create(signed_in(owner.user), workspace.slug, ["workspace:read"])
    response = api(secret).get("/api/v1/members")
    assert response.status_code == 403 and "members:read" in response.json()["detail"]


def test_a_member_cannot_grant_scopes_beyond_their_role() -> None:
    workspace = make_workspace()
    admin = add_member(workspace, role=Role.ADMIN)
    response = signed_in(admin.user).post(
        f"/w/{workspace.slug}/tokens/create/", {"name": "x", "scopes": ["nonsense:write"], "days": 5}
    )
    assert response.status_code == 400 and not ApiToken.objects.exists()


@pytest.mark.parametrize("days", [0, 366, -3])
def test_token_lifetimes_are_bounded(days: int) -> None:
    workspace = make_workspace()
    owner = add_member(workspace, role=Role.OWNER)
    response = signed_in(owner.user).post(
        f"/w/{workspace.slug}/tokens/create/", {"name": "x", "scopes": ["workspace:read"], "days": days}
    )
    assert response.status_code == 400


def test_expired_revoked_and_orphaned_tokens_stop_working() -> None:
    workspace = make_workspace()
    owner = add_member(workspace, role=Role.OWNER)
    admin = add_member(workspace, role=Role.ADMIN)
    client = signed_in(owner.user)
    expiring, revoked = (
        create(client, workspace.slug, ["workspace:read"], days=1),
        create(client, workspace.slug, ["workspace:read"]),
    )
    orphan = create(signed_in(admin.user), workspace.slug, ["workspace:read"])
    with time_machine.travel(now() + timedelta(days=1, minutes=1)):
        assert api(expiring).get("/api/v1/workspace").status_code == 401
    revoked_row = ApiToken.objects.order_by("pk")[1]
    client.post(f"/w/{workspace.slug}/tokens/{revoked_row.pk}/revoke/")
    assert api(revoked).get("/api/v1/workspace").status_code == 401
    assert api(orphan).get("/api/v1/workspace").status_code == 200
    Membership.objects.filter(pk=admin.pk).delete()
    assert api(orphan).get("/api/v1/workspace").status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer chk_",
        "Bearer chk_x_",
        "Bearer abc",
        "Basic Zm9vOmJhcg==",
        "Bearer chk_a_" + "x" * 5000,
    ],
)
def test_malformed_credentials_get_401(header: str) -> None:
    response = Client(HTTP_AUTHORIZATION=header).get("/api/v1/workspace")
    assert response.status_code == 401


def test_the_openapi_document_is_3_1() -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    assert {"/api/v1/workspace", "/api/v1/members", "/api/v1/members/{member_id}"} <= set(schema["paths"])


def test_a_demoted_creator_takes_the_scope_with_them() -> None:
    workspace = make_workspace()
    owner = add_member(workspace, role=Role.OWNER)
    admin = add_member(workspace, role=Role.ADMIN)
    secret = create(signed_in(admin.user), workspace.slug, ["audit:read"])
    allowed = api(secret).get("/api/v1/audit/checkpoint")
    assert allowed.status_code in {200, 404}  # 404: no checkpoint published yet
    signed_in(owner.user).post(f"/w/{workspace.slug}/members/{admin.pk}/role/", {"role": "agent"})
    response = api(secret).get("/api/v1/audit/checkpoint")
    assert response.status_code == 403 and "no longer holds" in response.json()["detail"]
