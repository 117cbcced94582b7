"""Passkeys in real Chromium, with its virtual authenticator driven through the DevTools protocol:
register a passkey, sign out, sign in with password + passkey; the strict CSP holds and axe is clean."""

from __future__ import annotations

from typing import Any

import pytest

from chatrk.accounts.models import Passkey, User
from chatrk.audit.models import AuditEvent
from chatrk.core.roles import Role
from chatrk.testing import PASSWORD, add_member, make_user, make_workspace, next_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server: Any, settings: Any) -> str:
    """The live server is the relying party: RP ID localhost, origin http://localhost:<port>."""
    settings.PUBLIC_URL = live_server.url
    assert live_server.url.startswith("http://localhost:")
    return str(live_server.url)


def virtual_authenticator(page: Any) -> tuple[Any, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, str(added["authenticatorId"])


def password_step(page: Any, site: str, user: User) -> None:
    page.goto(f"{site}/login/")
    page.get_by_label("E-mail address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/login/verify/")


def sign_in_with_code(page: Any, site: str, user: User) -> None:
    password_step(page, site, user)
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(next_code(user))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox/")


def csp_reports(page: Any) -> list[str]:
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
    return found


def test_register_a_passkey_then_sign_in_with_it(chromium: Any, site: str, screenshot: Any) -> None:
    user = make_user(name="Pat Keys")
    workspace = make_workspace("Harbour Books")
    add_member(workspace, user, Role.OWNER)
    page = chromium.new_context().new_page()  # the CSP is enforced: the ceremony runs from passkeys.js
    blocked = csp_reports(page)
    cdp, authenticator = virtual_authenticator(page)
    sign_in_with_code(page, site, user)

    page.goto(f"{site}/account/")
    assert page.get_by_text("No passkey yet.").is_visible()
    page.get_by_role("link", name="Add a passkey").click()
    page.wait_for_url("**/account/passkeys/add/")
    page.get_by_label("Name for this passkey").fill("Office laptop")
    page.get_by_role("button", name="Create passkey").click()
    page.wait_for_url(f"{site}/account/")
    row = page.get_by_role("row").filter(has_text="Office laptop")
    assert row.is_visible() and "never" in row.inner_text()
    screenshot(page, "passkeys")
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(credentials) == 1 and credentials[0]["isResidentCredential"]

    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url("**/login/")
    password_step(page, site, user)
    screenshot(page, "passkeys-verify")
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(f"**/w/{workspace.slug}/inbox/")
    passkey = Passkey.objects.get(user=user)
    assert passkey.last_used_at is not None and passkey.sign_count >= 1
    assert AuditEvent.objects.filter(action="authn.login_success", details={"factors": "password+passkey"})
    page.goto(f"{site}/account/")
    assert "never" not in page.get_by_role("row").filter(has_text="Office laptop").inner_text()

    page.goto(f"{site}/account/reauth/?next=/account/")  # sensitive changes: password + passkey again
    page.locator("#id_passkey_password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm with a passkey").click()
    page.wait_for_url(f"{site}/account/")
    assert AuditEvent.objects.filter(action="authn.reauthenticated", details={"factors": "password+passkey"})
    assert blocked == []


def test_a_new_member_enrols_a_passkey_instead_of_an_app(chromium: Any, site: str, screenshot: Any) -> None:
    user = make_user(name="Nia New", with_totp=False)
    workspace = make_workspace("Harbour Books")
    add_member(workspace, user, Role.AGENT)
    page = chromium.new_context().new_page()
    virtual_authenticator(page)
    page.goto(f"{site}/login/")
    page.get_by_label("E-mail address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/login/enrol/")
    page.get_by_role("link", name="Use a passkey instead").click()
    page.wait_for_url("**/login/enrol/passkey/")
    screenshot(page, "passkeys-enrol")
    page.get_by_label("Name for this passkey").fill("Phone")
    page.get_by_role("button", name="Create passkey").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    assert len(page.locator("ol.codes li").all_inner_texts()) == 10
    page.get_by_role("link", name="I have saved them, continue").click()
    page.wait_for_url(f"**/w/{workspace.slug}/inbox/")
    assert Passkey.objects.filter(user=user).count() == 1


def test_a_cancelled_or_impossible_ceremony_explains_itself(chromium: Any, site: str) -> None:
    user = make_user()
    add_member(make_workspace(), user, Role.AGENT)
    page = chromium.new_context().new_page()
    cdp, authenticator = virtual_authenticator(page)
    sign_in_with_code(page, site, user)
    page.goto(f"{site}/account/passkeys/add/")
    page.get_by_label("Name for this passkey").fill("Phone")
    page.get_by_role("button", name="Create passkey").click()
    page.wait_for_url(f"{site}/account/")
    # The authenticator loses its key (another device, a wiped phone): the browser finds no passkey.
    cdp.send("WebAuthn.clearCredentials", {"authenticatorId": authenticator})
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url("**/login/")
    password_step(page, site, user)
    page.get_by_role("button", name="Use a passkey").click()
    alert = page.locator("[data-passkey-status]")
    alert.filter(has_text="cancelled or timed out").wait_for()
    assert page.url.endswith("/login/verify/")
    assert page.get_by_role("button", name="Use a passkey").is_enabled()  # ready to try again

    bare = chromium.new_context()
    bare.add_init_script("delete window.PublicKeyCredential;")  # a browser without WebAuthn
    old = bare.new_page()
    password_step(old, site, user)
    old.get_by_role("button", name="Use a passkey").click()
    old.locator("[data-passkey-status]").filter(has_text="This browser cannot use passkeys").wait_for()


def test_passkey_pages_pass_axe(chromium: Any, site: str, axe_violations: Any) -> None:
    user = make_user()
    add_member(make_workspace(), user, Role.AGENT)
    page = chromium.new_context(bypass_csp=True).new_page()
    virtual_authenticator(page)
    sign_in_with_code(page, site, user)
    found: dict[str, list[str]] = {}
    page.goto(f"{site}/account/passkeys/add/")
    found["add"] = axe_violations(page)
    page.get_by_label("Name for this passkey").fill("Desk key")
    page.get_by_role("button", name="Create passkey").click()
    page.wait_for_url(f"{site}/account/")
    found["security"] = axe_violations(page)
    page.goto(f"{site}/account/reauth/")
    found["reauth"] = axe_violations(page)
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url("**/login/")
    password_step(page, site, user)
    found["verify"] = axe_violations(page)
    newcomer = make_user(with_totp=False)
    fresh = chromium.new_context(bypass_csp=True).new_page()
    fresh.goto(f"{site}/login/")
    fresh.get_by_label("E-mail address").fill(newcomer.email)
    fresh.get_by_label("Password").fill(PASSWORD)
    fresh.get_by_role("button", name="Continue").click()
    fresh.wait_for_url("**/login/enrol/")
    fresh.goto(f"{site}/login/enrol/passkey/")
    found["enrol"] = axe_violations(fresh)
    fresh.set_viewport_size({"width": 375, "height": 740})
    assert fresh.evaluate("document.documentElement.scrollWidth") <= 375  # fits a phone
    assert {name: issues for name, issues in found.items() if issues} == {}
