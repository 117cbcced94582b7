"""axe-core finds no serious or critical accessibility violation on any screen, and the CSP holds."""

from __future__ import annotations

from typing import Any

import pytest

from chatrk.accounts.actions import create_setup_link
from chatrk.core.roles import Role
from chatrk.policy.actions import hold_for_review
from chatrk.policy.engine import check_text
from chatrk.policy.models import HeldKind
from chatrk.testing import PASSWORD, add_member, make_channel, make_user, make_workspace, next_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Any, base: str, email: str, code: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/login/verify/")
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(code)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox/")


def test_every_screen_passes_axe(chromium: Any, live_server: Any, axe_violations: Any) -> None:
    base = live_server.url
    user = make_user(name="Ana Owner")
    workspace = make_workspace("Blue Lantern")
    make_channel(add_member(workspace, user, Role.OWNER))
    add_member(workspace, make_user(name="Bo Agent"), Role.AGENT)
    text = "Cheap vapes, order now: https://bit.ly/v"
    held = hold_for_review(workspace.pk, check_text(text), kind=HeldKind.MESSAGE, ref_id=1, text=text)
    anonymous = chromium.new_context(bypass_csp=True).new_page()
    found: dict[str, list[str]] = {}
    setup = create_setup_link().rsplit("/", 1)[1]
    for path in ["/login/", f"/setup/{setup}", "/no/such/page/", f"/optin/{workspace.slug}/"]:
        anonymous.goto(base + path)
        found[path] = axe_violations(anonymous)
    page = chromium.new_context(bypass_csp=True).new_page()
    sign_in(page, base, user.email, next_code(user))
    for path in [
        f"/w/{workspace.slug}/inbox/", f"/w/{workspace.slug}/members/", f"/w/{workspace.slug}/tokens/",
        f"/w/{workspace.slug}/templates/", f"/w/{workspace.slug}/templates/new/",
        f"/w/{workspace.slug}/templates/review/",
        "/account/", "/account/password/", "/account/email/", "/account/two-factor/",
        f"/w/{workspace.slug}/policy/review/", f"/w/{workspace.slug}/policy/review/{held.pk}/",
        f"/w/{workspace.slug}/policy/settings/", f"/w/{workspace.slug}/consent/",
        f"/w/{workspace.slug}/channels/",
    ]:  # fmt: skip
        page.goto(base + path)
        found[path] = axe_violations(page)
    assert {path: issues for path, issues in found.items() if issues} == {}


def test_pages_run_under_the_strict_csp_without_violations(chromium: Any, live_server: Any) -> None:
    user = make_user()
    workspace = make_workspace()
    add_member(workspace, user, Role.OWNER)
    page = chromium.new_context().new_page()
    complaints: list[str] = []
    page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)
    sign_in(page, live_server.url, user.email, next_code(user))
    page.goto(f"{live_server.url}/w/{workspace.slug}/members/")
    assert page.evaluate("typeof htmx") == "object"  # the vendored htmx loaded under script-src 'self'
    assert page.evaluate("htmx.config.allowEval") is False
    assert complaints == []
