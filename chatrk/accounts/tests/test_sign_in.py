"""Signing in with two factors, throttling, sessions and their timeouts, re-authentication."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from chatrk.accounts.devices import COOKIE as DEVICE_COOKIE
from chatrk.accounts.models import RecoveryCode, User, UserSession
from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.testing import PASSWORD, add_member, make_user, make_workspace, next_code, signed_in

pytestmark = pytest.mark.django_db


def password_step(client: Client, email: str, password: str = PASSWORD) -> Any:
    return client.post("/login/", {"email": email, "password": password})


def full_sign_in(client: Client, user: User) -> None:
    response = password_step(client, user.email)
    assert response.status_code == 302 and response["Location"] == "/login/verify/"
    response = client.post("/login/verify/", {"code": next_code(user)})
    assert response.status_code == 302


def actions_logged() -> list[str]:
    """Account events in order (key management writes events of its own, not asserted here)."""
    events = AuditEvent.objects.exclude(action__startswith="crypto.").order_by("seq")
    return list(events.values_list("action", flat=True))


def test_both_factors_sign_in_and_the_session_id_changes() -> None:
    user = make_user()
    workspace = make_workspace()
    add_member(workspace, user, Role.AGENT)
    client = Client()
    client.get("/login/")
    password_step(client, user.email)
    pending_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    response = client.post("/login/verify/", {"code": next_code(user)})
    assert response["Location"] == f"/w/{workspace.slug}/inbox/"
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != pending_key
    assert client.get(f"/w/{workspace.slug}/inbox/").status_code == 200
    assert DEVICE_COOKIE in client.cookies
    event = AuditEvent.objects.filter(action="authn.login_success").get()
    assert event.details == {"factors": "password+totp"} and event.ip_hmac and event.target_id == str(user.pk)


def test_password_alone_reaches_no_workspace_data() -> None:
    user = make_user()
    workspace = make_workspace()
    add_member(workspace, user)
    client = Client()
    password_step(client, user.email)
    response = client.get(f"/w/{workspace.slug}/inbox/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get("/api/v1/workspace").status_code == 401


def test_without_an_authenticator_the_user_must_enrol_first() -> None:
    user = make_user(with_totp=False)
    workspace = make_workspace()
    add_member(workspace, user)
    client = Client()
    assert password_step(client, user.email)["Location"] == "/login/enrol/"
    assert client.get("/login/verify/").status_code == 200  # a form, but no code can pass without a device
    assert client.post("/login/verify/", {"code": "123456"}).status_code == 400
    assert client.get(f"/w/{workspace.slug}/inbox/").status_code == 302
    page = client.get("/login/enrol/")
    assert b"<svg" in page.content and b"totp-seed" in page.content


def test_unknown_account_and_wrong_password_look_alike() -> None:
    user = make_user()
    wrong = password_step(Client(), user.email, "not the password at all")
    unknown = password_step(Client(), "nobody@example.org")
    assert wrong.status_code == unknown.status_code == 400
    assert b"do not match an account" in wrong.content and b"do not match an account" in unknown.content
    assert actions_logged() == [
        "2fa.enrolled",
        "2fa.recovery_codes_replaced",
        "authn.login_failure",
        "authn.login_failure",
    ]


def test_a_totp_code_works_once() -> None:
    user = make_user()
    first, second = Client(), Client()
    password_step(first, user.email)
    password_step(second, user.email)
    code = next_code(user)
    assert first.post("/login/verify/", {"code": code}).status_code == 302
    replay = second.post("/login/verify/", {"code": code})
    assert replay.status_code == 400 and b"work once" in replay.content


def test_recovery_codes_are_hashed_and_single_use() -> None:
    from chatrk.accounts.actions import replace_recovery_codes
    from chatrk.audit.actions import Origin

    user = make_user()
    codes = replace_recovery_codes(user, origin=Origin())
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = list(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert all(code.replace("-", "") not in "".join(stored) for code in codes)
    client = Client()
    password_step(client, user.email)
    assert client.post("/login/verify/", {"code": codes[3].upper()}).status_code == 302
    again = Client()
    password_step(again, user.email)
    assert again.post("/login/verify/", {"code": codes[3]}).status_code == 400
    assert "authn.recovery_code_used" in actions_logged()


def test_failures_earn_growing_delays_that_expire() -> None:
    user = make_user()
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [password_step(attacker, user.email, f"guess number {i}").status_code for i in range(6)]
    assert statuses == [400] * 5 + [429]
    blocked = password_step(attacker, user.email)  # even the right password waits now
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) >= 1
    with time_machine.travel(now() + timedelta(seconds=3)):
        password_step(attacker, user.email, "another wrong guess")
    with time_machine.travel(now() + timedelta(seconds=4)):
        assert int(password_step(attacker, user.email)["Retry-After"]) >= 3
    with time_machine.travel(now() + timedelta(minutes=16)):
        assert password_step(attacker, user.email).status_code == 302


def test_an_attacker_cannot_lock_the_owner_out_of_a_known_device() -> None:
    user = make_user()
    owner = Client(REMOTE_ADDR="198.51.100.7")
    full_sign_in(owner, user)
    owner.post("/logout/")
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for i in range(12):
        password_step(attacker, user.email, f"guess number {i}")
    assert password_step(attacker, user.email).status_code == 429
    assert password_step(owner, user.email).status_code == 302


def test_guessing_second_factor_codes_is_throttled() -> None:
    user = make_user()
    client = Client()
    password_step(client, user.email)
    for _ in range(6):
        client.post("/login/verify/", {"code": "000000"})
    response = client.post("/login/verify/", {"code": next_code(user)})
    assert response.status_code == 429


def test_logout_kills_the_session_on_the_server() -> None:
    user = make_user()
    client = Client()
    full_sign_in(client, user)
    stolen = client.cookies[settings.SESSION_COOKIE_NAME].value
    response = client.post("/logout/")
    assert response["Clear-Site-Data"] == '"cache", "storage"'
    assert not UserSession.objects.filter(session_key=stolen).exists()
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = stolen
    assert replay.get("/account/").status_code == 302


@pytest.mark.parametrize(("idle", "absolute"), [(61, False), (0, True)])
def test_sessions_end_after_inactivity_and_absolute_lifetime(idle: int, absolute: bool) -> None:
    user = make_user()
    client = signed_in(user)
    start = now()
    if absolute:  # active every 50 minutes, still ended at 12 hours
        for hours in range(1, 13):
            with time_machine.travel(start + timedelta(minutes=50 * hours)):
                client.get("/account/")
        with time_machine.travel(start + timedelta(hours=12, minutes=1)):
            response = client.get("/account/")
        assert response["Location"] == "/login/?expired=absolute"
    else:
        with time_machine.travel(start + timedelta(minutes=idle)):
            assert client.get("/account/")["Location"] == "/login/?expired=idle"


def test_users_see_and_revoke_their_sessions() -> None:
    user = make_user()
    laptop, phone = signed_in(user), signed_in(user)
    page = laptop.get("/account/")
    assert page.content.count(b'hx-post="/account/sessions/') == 1  # the other session, not this one
    phone_key = phone.cookies[settings.SESSION_COOKIE_NAME].value
    assert phone_key.encode() not in page.content
    import re

    session_id = re.search(rb"/account/sessions/([^/]+)/revoke/", page.content)
    assert session_id is not None
    laptop.post(f"/account/sessions/{session_id.group(1).decode()}/revoke/")
    assert phone.get("/account/").status_code == 302
    assert laptop.get("/account/").status_code == 200


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions() -> None:
    user = make_user()
    laptop, phone = signed_in(user), signed_in(user)
    wrong = laptop.post(
        "/account/password/", {"current_password": "nope nope nope", "new_password": "fresh violet harbour"}
    )
    assert wrong.status_code == 400 and b"current password is not correct" in wrong.content
    weak = laptop.post("/account/password/", {"current_password": PASSWORD, "new_password": "password1234"})
    assert weak.status_code == 400 and b"breached" in weak.content
    ok = laptop.post(
        "/account/password/", {"current_password": PASSWORD, "new_password": "fresh violet harbour"}
    )
    assert ok.status_code == 200
    assert phone.get("/account/").status_code == 302
    assert laptop.get("/account/").status_code == 200
    assert "account.password_changed" in actions_logged()


@pytest.mark.parametrize("path", ["/account/password/", "/account/email/", "/account/two-factor/"])
def test_sensitive_changes_require_recent_reauthentication(path: str) -> None:
    user = make_user()
    client = signed_in(user)
    with time_machine.travel(now() + timedelta(minutes=11)):
        response = client.get(path)
        assert response["Location"] == f"/account/reauth/?next={path}"
        bad = client.post("/account/reauth/?next=" + path, {"password": PASSWORD, "code": "000000"})
        assert bad.status_code == 400
        before = client.cookies[settings.SESSION_COOKIE_NAME].value
        good = client.post("/account/reauth/?next=" + path, {"password": PASSWORD, "code": next_code(user)})
        assert good["Location"] == path
        assert client.cookies[settings.SESSION_COOKIE_NAME].value != before
        assert client.get(path).status_code == 200


def test_replacing_the_authenticator_keeps_the_old_one_until_confirmed() -> None:
    from chatrk.accounts import totp
    from chatrk.accounts.models import TotpDevice
    from chatrk.crypto.system import unseal

    user = make_user()
    client, other = signed_in(user), signed_in(user)
    assert client.get("/account/two-factor/").status_code == 200
    old_code = next_code(user)
    assert client.post("/account/two-factor/", {"code": old_code}).status_code == 400
    device = TotpDevice.objects.get(user=user)
    assert device.pending_seed is not None
    new_seed = unseal(bytes(device.pending_seed), context=f"accounts.totp_device.seed|{user.pk}")
    response = client.post("/account/two-factor/", {"code": totp.code_at(new_seed, totp.step_of(now()))})
    assert response.status_code == 200 and b"Authenticator replaced" in response.content
    assert other.get("/account/").status_code == 302
    assert "2fa.reset" in actions_logged()


def test_email_change_refuses_a_taken_address() -> None:
    user, taken = make_user(), make_user()
    client = signed_in(user)
    assert client.post("/account/email/", {"email": taken.email.upper()}).status_code == 400
    assert client.post("/account/email/", {"email": "new.address@example.org"}).status_code == 200
    user.refresh_from_db()
    assert user.email == "new.address@example.org"


def test_session_rows_hold_who_and_when() -> None:
    user = make_user()
    client = Client(REMOTE_ADDR="192.0.2.44", HTTP_USER_AGENT="TestBrowser/1.0")
    full_sign_in(client, user)
    row = UserSession.objects.get(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value)
    assert row.user_id == user.pk and row.ip == "192.0.2.44" and row.user_agent == "TestBrowser/1.0"
    assert row.created_at is not None


def test_revoking_a_session_with_htmx_answers_an_empty_fragment() -> None:
    import re

    user = make_user()
    laptop, phone = signed_in(user), signed_in(user)
    found = re.search(rb'hx-post="(/account/sessions/[^"]+/revoke/)"', laptop.get("/account/").content)
    assert found is not None
    response = laptop.post(found.group(1).decode(), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response.content == b""
    assert phone.get("/account/").status_code == 302
