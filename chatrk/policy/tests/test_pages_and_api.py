"""The review queue and settings pages, and the policy API."""

from __future__ import annotations

import pytest
from django.test import Client

from chatrk.accounts.actions import create_api_token
from chatrk.accounts.scopes import Scope
from chatrk.audit.actions import Origin
from chatrk.audit.models import AuditEvent
from chatrk.core.models import Workspace
from chatrk.core.roles import Role
from chatrk.policy import actions
from chatrk.policy.models import HeldItem, HeldKind, HeldStatus
from chatrk.testing import add_member, make_workspace, signed_in

pytestmark = pytest.mark.django_db

TEXT = "Cheap vapes, order now: https://bit.ly/v"


def hold(workspace: Workspace, ref_id: int = 5) -> HeldItem:
    decision = actions.check_outbound_message(workspace.pk, TEXT)
    return actions.hold_for_review(workspace.pk, decision, kind=HeldKind.MESSAGE, ref_id=ref_id, text=TEXT)


def test_a_compliance_officer_reviews_and_releases_with_an_audited_reading() -> None:
    workspace = make_workspace()
    officer = add_member(workspace, role=Role.COMPLIANCE)
    item = hold(workspace)
    client = signed_in(officer.user)
    queue = client.get(f"/w/{workspace.slug}/policy/review/")
    assert queue.status_code == 200 and b"Illegal or restricted goods" in queue.content
    assert b"vapes" not in queue.content  # the list shows why, not what
    page = client.get(f"/w/{workspace.slug}/policy/review/{item.pk}/")
    assert page.status_code == 200 and b"<mark>vapes" in page.content
    reading = AuditEvent.objects.get(action="crypto.reveal")
    assert reading.details["purpose"] == "policy-review" and reading.details["ids"] == str(item.pk)
    response = client.post(f"/w/{workspace.slug}/policy/review/{item.pk}/release/", {"comment": "ok in PT"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == HeldStatus.RELEASED
    again = client.post(f"/w/{workspace.slug}/policy/review/{item.pk}/reject/")
    assert again.status_code == 400 and b"already decided" in again.content
    decided = client.get(f"/w/{workspace.slug}/policy/review/{item.pk}/")
    assert b"ok in PT" in decided.content and b"no longer kept" in decided.content


def test_other_roles_cannot_open_the_queue() -> None:
    workspace = make_workspace()
    item = hold(workspace)
    for role in (Role.AGENT, Role.MARKETER, Role.AUDITOR):
        client = signed_in(add_member(workspace, role=role).user)
        assert client.get(f"/w/{workspace.slug}/policy/review/").status_code == 403
        assert client.post(f"/w/{workspace.slug}/policy/review/{item.pk}/release/").status_code == 403
    assert not AuditEvent.objects.filter(action="crypto.reveal").exists()


def test_the_settings_page_refuses_looser_values_and_saves_stricter_ones() -> None:
    workspace = make_workspace()
    client = signed_in(add_member(workspace, role=Role.COMPLIANCE).user)
    page = client.get(f"/w/{workspace.slug}/policy/settings/")
    assert page.status_code == 200
    form = dict(page.context["form"].initial)
    assert (
        client.post(f"/w/{workspace.slug}/policy/settings/", {**form, "block_hate": 500}).status_code == 400
    )
    form.update(
        {"block_illegal": 50, "extra_terms": "airdrop | scam | block", "allowed_domains": "go.acme.example"}
    )
    response = client.post(f"/w/{workspace.slug}/policy/settings/", form)
    assert response.status_code == 200 and b"Saved" in response.content
    assert actions.check_outbound_message(workspace.pk, "Whisky offer: 3 bottles for 2").action == "block"
    assert actions.check_outbound_message(workspace.pk, "Join our AIRDROP").action == "block"
    bad = {**form, "extra_terms": "x | nonsense | block"}
    assert client.post(f"/w/{workspace.slug}/policy/settings/", bad).status_code == 400


def api_client(workspace: Workspace, role: Role, scopes: list[Scope]) -> Client:
    member = add_member(workspace, role=role)
    _, secret = create_api_token(member, name="t", scopes=scopes, days=5, origin=Origin())
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_the_api_lists_and_decides_held_items_with_the_policy_review_scope() -> None:
    workspace = make_workspace()
    item = hold(workspace)
    client = api_client(workspace, Role.COMPLIANCE, [Scope.POLICY_REVIEW])
    listed = client.get("/api/v1/policy/held").json()
    assert [row["id"] for row in listed] == [str(item.pk)] and "text" not in listed[0]
    assert client.get(f"/api/v1/policy/held/{item.pk}").json()["category"] == "illegal"
    response = client.post(
        f"/api/v1/policy/held/{item.pk}/reject", {"comment": "no"}, content_type="application/json"
    )
    assert response.json() == {"kind": "message", "ref_id": "5", "status": "rejected"}
    assert client.post(f"/api/v1/policy/held/{item.pk}/release").status_code == 409
    assert AuditEvent.objects.get(action="policy.rejected").actor_kind == "token"
    check = client.post("/api/v1/policy/check", {"text": "Send me your PIN"}, content_type="application/json")
    assert check.json()["action"] == "block" and check.json()["category"] == "sensitive_ids"


def test_the_api_needs_the_scope_and_the_role() -> None:
    workspace = make_workspace()
    without = api_client(workspace, Role.COMPLIANCE, [Scope.WORKSPACE_READ])
    assert without.get("/api/v1/policy/held").status_code == 403
    owner = add_member(workspace, role=Role.OWNER)
    _, secret = create_api_token(owner, name="t", scopes=[Scope.POLICY_REVIEW], days=5, origin=Origin())
    owner.role = Role.AGENT
    owner.save()
    demoted = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert demoted.get("/api/v1/policy/held").status_code == 403


def test_settings_over_the_api() -> None:
    workspace = make_workspace()
    client = api_client(workspace, Role.ADMIN, [Scope.POLICY_REVIEW])
    current = client.get("/api/v1/policy/settings").json()
    assert current["block_at"]["hate"] == 100 and current["hold_at"]["spam"] == 50
    current["block_at"]["hate"] = 400
    assert client.put("/api/v1/policy/settings", current, content_type="application/json").status_code == 400
    current["block_at"]["hate"] = 100
    current["blocked_domains"] = ["evil.example"]
    saved = client.put("/api/v1/policy/settings", current, content_type="application/json").json()
    assert saved["blocked_domains"] == ["evil.example"]
