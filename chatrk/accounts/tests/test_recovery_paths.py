"""Forgotten passwords, disabled accounts, stale passwords, session secrets (ASVS V6.4, V6.2.10, V7)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from chatrk.accounts.actions import create_setup_link
from chatrk.accounts.models import User, UserSession
from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.testing import PASSWORD, add_member, make_user, make_workspace, next_code, signed_in

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "amber tugboat moonlight sonata"


def reset_link(workspace_slug: str, admin: Client, member_id: int) -> str:
    response = admin.post(f"/w/{workspace_slug}/members/{member_id}/password-reset/")
    match = re.search(
        rb'id="reset-link" class="secret" readonly value="[^"]*/reset/([^"]+)"', response.content
    )
    assert match is not None, response.content
    return match.group(1).decode()


def test_a_reset_link_needs_the_second_factor_and_ends_every_session() -> None:
    workspace = make_workspace()
    admin = add_member(workspace, role=Role.ADMIN)
    agent = add_member(workspace, role=Role.AGENT)
    old_session = signed_in(agent.user)
    secret = reset_link(workspace.slug, signed_in(admin.user), agent.pk)
    client = Client()
    assert client.get(f"/reset/{secret}")["Location"] == "/reset/"
    no_code = client.post("/reset/", {"new_password": NEW_PASSWORD, "code": "000000"})
    assert no_code.status_code == 400
    agent.user.refresh_from_db()
    assert agent.user.check_password(PASSWORD)  # a link alone changes nothing
    done = client.post("/reset/", {"new_password": NEW_PASSWORD, "code": next_code(agent.user)})
    assert done.status_code == 200 and b"every session was signed out" in done.content
    agent.user.refresh_from_db()
    assert agent.user.check_password(NEW_PASSWORD)
    assert old_session.get("/account/").status_code == 302
    again = Client()
    again.get(f"/reset/{secret}")
    assert again.get("/reset/").status_code == 404
    resets = AuditEvent.objects.filter(action__startswith="account.password_reset").order_by("seq")
    assert [e.action for e in resets] == [
        "account.password_reset_issued", "account.password_reset",
    ]  # fmt: skip


def test_reset_links_expire_and_admins_cannot_reset_owners() -> None:
    workspace = make_workspace()
    owner = add_member(workspace, role=Role.OWNER)
    admin = add_member(workspace, role=Role.ADMIN)
    agent = add_member(workspace, role=Role.AGENT)
    refused = signed_in(admin.user).post(f"/w/{workspace.slug}/members/{owner.pk}/password-reset/")
    assert b"Only an owner can reset" in refused.content
    secret = reset_link(workspace.slug, signed_in(owner.user), agent.pk)
    with time_machine.travel(now() + timedelta(hours=24, minutes=1)):
        client = Client()
        client.get(f"/reset/{secret}")
        assert client.get("/reset/").status_code == 404


def test_the_operator_can_issue_a_reset_link_from_the_terminal() -> None:
    from io import StringIO

    from django.core.management import call_command

    user = make_user()
    out = StringIO()
    call_command("resetlink", "--email", user.email.upper(), stdout=out)
    assert "/reset/" in out.getvalue()


def test_no_forced_periodic_rotation() -> None:
    user = make_user()
    User.objects.filter(pk=user.pk).update(password_changed_at=now() - timedelta(days=800))
    client = Client()
    client.post("/login/", {"email": user.email, "password": PASSWORD})
    assert client.post("/login/verify/", {"code": next_code(user)}).status_code == 302


def test_disabling_a_user_ends_their_sessions() -> None:
    user = make_user()
    client = signed_in(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert client.get("/account/").status_code == 302
    assert Client().post("/login/", {"email": user.email, "password": PASSWORD}).status_code == 400


def test_session_ids_are_long_random_and_forged_ones_are_rejected() -> None:
    keys = {signed_in(make_user()).cookies[settings.SESSION_COOKIE_NAME].value for _ in range(5)}
    assert len(keys) == 5 and all(len(k) == 32 and k.isalnum() for k in keys)  # 36^32 ≈ 2^165
    forged = Client()
    forged.cookies[settings.SESSION_COOKIE_NAME] = "a" * 32
    assert forged.get("/account/").status_code == 302
    assert not UserSession.objects.filter(session_key="a" * 32, user__isnull=False).exists()


def test_setup_links_expire() -> None:
    secret = create_setup_link().rsplit("/", 1)[1]
    with time_machine.travel(now() + timedelta(hours=24, minutes=1)):
        client = Client()
        client.get(f"/setup/{secret}")
        assert client.get("/setup/").status_code == 404


def test_a_new_setup_link_replaces_the_old_one() -> None:
    first = create_setup_link().rsplit("/", 1)[1]
    create_setup_link()
    client = Client()
    client.get(f"/setup/{first}")
    assert client.get("/setup/").status_code == 404
