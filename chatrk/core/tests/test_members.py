"""Invitations, roles and membership, through the pages people use."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client

from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.models import Invitation, Membership
from chatrk.core.roles import Role
from chatrk.core.tokens import digest
from chatrk.testing import PASSWORD, add_member, make_user, make_workspace, signed_in

pytestmark = pytest.mark.django_db


def invite(client: Client, slug: str, email: str, role: str = "agent") -> str:
    response = client.post(f"/w/{slug}/members/invite/", {"email": email, "role": role})
    assert response.status_code == 200, response.content
    match = re.search(rb'value="(https?://[^"]+/invite/([^"]+))"', response.content)
    assert match is not None
    return match.group(2).decode()


def test_an_invitation_creates_an_account_that_must_enrol_two_factor() -> None:
    workspace = make_workspace()
    owner = add_member(workspace, role=Role.OWNER).user
    secret = invite(signed_in(owner), workspace.slug, "new.agent@example.org")
    assert len(secret) >= 43  # 256 bits, URL-safe base64
    stored = Invitation.objects.get()
    assert stored.token_hash == digest(secret) and secret not in stored.token_hash
    guest = Client()
    response = guest.get(f"/invite/{secret}")
    assert response["Location"] == "/invite/"  # the secret leaves the address bar at once
    page = guest.get("/invite/")
    assert b"Join" in page.content and b"new.agent@example.org" in page.content
    response = guest.post("/invite/", {"name": "New Agent", "password": "sunlit pebble orchestra"})
    assert response["Location"] == "/login/enrol/"
    member = Membership.objects.get(user__email="new.agent@example.org")
    assert member.role == Role.AGENT and member.workspace_id == workspace.pk
    assert guest.get(f"/w/{workspace.slug}/inbox/").status_code == 302  # not before enrolment
    assert Client().get(f"/invite/{secret}", follow=True).status_code == 404  # used up


def test_an_existing_user_accepts_after_signing_in() -> None:
    workspace, other = make_workspace(), make_workspace()
    owner = add_member(workspace, role=Role.OWNER).user
    person = add_member(other).user
    secret = invite(signed_in(owner), workspace.slug, person.email, "marketer")
    client = signed_in(person)
    client.get(f"/invite/{secret}")
    assert client.get("/invite/")["Location"] == f"/w/{workspace.slug}/inbox/"
    assert Membership.objects.get(workspace=workspace, user=person).role == Role.MARKETER


def test_an_invitation_only_works_for_its_address() -> None:
    workspace = make_workspace()
    owner = add_member(workspace, role=Role.OWNER).user
    secret = invite(signed_in(owner), workspace.slug, "right@example.org")
    intruder = signed_in(make_user(email="wrong@example.org"))
    intruder.get(f"/invite/{secret}")
    response = intruder.get("/invite/")
    assert response.status_code == 403 and b"another e-mail address" in response.content
    assert not Membership.objects.filter(workspace=workspace, user__email="wrong@example.org").exists()


def test_invitations_expire_and_can_be_revoked() -> None:
    workspace = make_workspace()
    owner = add_member(workspace, role=Role.OWNER).user
    client = signed_in(owner)
    expired, revoked = (
        invite(client, workspace.slug, "late@example.org"),
        invite(client, workspace.slug, "no@example.org"),
    )
    client.post(
        f"/w/{workspace.slug}/invitations/{Invitation.objects.get(email='no@example.org').pk}/revoke/"
    )
    with time_machine.travel(now() + timedelta(days=7, minutes=1)):
        guest = Client()
        guest.get(f"/invite/{expired}")
        assert guest.get("/invite/").status_code == 404
    guest = Client()
    guest.get(f"/invite/{revoked}")
    assert guest.get("/invite/").status_code == 404


def test_roles_limit_who_invites_whom() -> None:
    workspace = make_workspace()
    admin = add_member(workspace, role=Role.ADMIN).user
    agent = add_member(workspace, role=Role.AGENT).user
    response = signed_in(admin).post(
        f"/w/{workspace.slug}/members/invite/", {"email": "x@example.org", "role": "owner"}
    )
    assert response.status_code == 400 and b"cannot give this role" in response.content
    denied = signed_in(agent).post(
        f"/w/{workspace.slug}/members/invite/", {"email": "x@example.org", "role": "agent"}
    )
    assert denied.status_code == 403
    assert AuditEvent.objects.filter(action="authz.denied", reason="members.manage").exists()
    assert not Invitation.objects.exists()


def test_role_changes_need_reauthentication_and_keep_an_owner() -> None:
    workspace = make_workspace()
    owner = add_member(workspace, role=Role.OWNER)
    agent = add_member(workspace, role=Role.AGENT)
    client = signed_in(owner.user)
    with time_machine.travel(now() + timedelta(minutes=11)):
        stale = client.post(f"/w/{workspace.slug}/members/{agent.pk}/role/", {"role": "admin"})
        assert stale["Location"].startswith("/account/reauth/")
    client.post(f"/w/{workspace.slug}/members/{agent.pk}/role/", {"role": "admin"})
    agent.refresh_from_db()
    assert agent.role == Role.ADMIN
    response = client.post(f"/w/{workspace.slug}/members/{owner.pk}/role/", {"role": "agent"})
    assert b"at least one owner" in response.content
    owner.refresh_from_db()
    assert owner.role == Role.OWNER
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.details == {"from": "agent", "to": "admin"} and event.workspace_id == workspace.pk


def test_admins_cannot_touch_owners() -> None:
    workspace = make_workspace()
    owner = add_member(workspace, role=Role.OWNER)
    admin = add_member(workspace, role=Role.ADMIN)
    client = signed_in(admin.user)
    response = client.post(f"/w/{workspace.slug}/members/{owner.pk}/remove/")
    assert b"Only an owner can change an owner" in response.content
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_an_admin_signs_a_member_out_everywhere() -> None:
    workspace = make_workspace()
    admin = add_member(workspace, role=Role.ADMIN)
    agent = add_member(workspace, role=Role.AGENT)
    agent_client = signed_in(agent.user)
    response = signed_in(admin.user).post(f"/w/{workspace.slug}/members/{agent.pk}/sessions/revoke/")
    assert b"Signed out 1 session" in response.content
    assert agent_client.get("/account/").status_code == 302
    assert AuditEvent.objects.get(action="session.revoked_by_admin").target_id == str(agent.user_id)


def test_a_removed_member_loses_access_at_once() -> None:
    workspace = make_workspace()
    owner = add_member(workspace, role=Role.OWNER)
    agent = add_member(workspace, role=Role.AGENT)
    agent_client = signed_in(agent.user)
    assert agent_client.get(f"/w/{workspace.slug}/inbox/").status_code == 200
    signed_in(owner.user).post(f"/w/{workspace.slug}/members/{agent.pk}/remove/")
    assert agent_client.get(f"/w/{workspace.slug}/inbox/").status_code == 404


def test_the_auditor_role_is_read_only() -> None:
    workspace = make_workspace()
    auditor = add_member(workspace, role=Role.AUDITOR)
    client = signed_in(auditor.user)
    assert client.get(f"/w/{workspace.slug}/members/").status_code == 200
    assert client.get(f"/w/{workspace.slug}/tokens/").status_code == 403
    assert (
        client.post(
            f"/w/{workspace.slug}/members/invite/", {"email": "a@example.org", "role": "agent"}
        ).status_code
        == 403
    )


def test_setup_link_creates_the_first_owner_once() -> None:
    from chatrk.accounts.actions import create_setup_link

    link = create_setup_link()
    secret = link.rsplit("/", 1)[1]
    client = Client()
    client.get(f"/setup/{secret}")
    bad = client.post("/setup/", {"workspace_name": "Harbour Books", "name": "Rae Owner",
                                  "email": "rae@example.org", "password": "HarbourBooks2026"})  # fmt: skip
    assert bad.status_code == 400 and b"linked to you or to this service" in bad.content
    good = client.post("/setup/", {"workspace_name": "Harbour Books", "name": "Rae Owner",
                                   "email": "rae@example.org", "password": PASSWORD})  # fmt: skip
    assert good["Location"] == "/login/enrol/"
    member = Membership.objects.get()
    assert member.role == Role.OWNER and member.workspace.slug == "harbour-books"
    again = Client()
    again.get(f"/setup/{secret}")
    assert again.get("/setup/").status_code == 404


def test_no_account_exists_after_install() -> None:
    from chatrk.accounts.models import User

    assert not User.objects.exists()
