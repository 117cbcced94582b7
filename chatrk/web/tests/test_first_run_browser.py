"""The whole first-run path in a real browser: setup link, owner, TOTP, sign out, sign in, invite an agent."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chatrk.accounts import totp
from chatrk.accounts.actions import create_setup_link
from chatrk.accounts.models import User
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.testing import next_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OWNER_PASSWORD = "lighthouse kettle saffron drum"


def enrol_with_the_shown_key(page: Any) -> None:
    seed_text = page.locator("#totp-seed").inner_text()
    seed = totp_seed(seed_text)
    page.get_by_label("6-digit code shown by the app").fill(totp.code_at(seed, totp.step_of(now())))
    page.get_by_role("button", name="Confirm").click()


def totp_seed(text: str) -> bytes:
    import base64

    raw = text.replace(" ", "")
    return base64.b32decode(raw + "=" * (-len(raw) % 8))


def test_first_run_to_an_invited_agent(chromium: Any, live_server: Any, screenshot: Any) -> None:
    link = create_setup_link().replace("http://127.0.0.1:8000", live_server.url)
    context = chromium.new_context()
    page = context.new_page()
    page.goto(link)
    assert page.url == f"{live_server.url}/setup/"
    screenshot(page, "01-setup")
    page.get_by_label("Business or workspace name").fill("Harbour Books")
    page.get_by_label("Your name").fill("Rae Owner")
    page.get_by_label("Your e-mail address").fill("rae@example.org")
    page.get_by_label("Choose a password").fill("HarbourBooks2026")
    page.get_by_role("button", name="Create workspace").click()
    assert page.get_by_role("alert").first.inner_text().startswith("This password is mostly made of words")
    page.get_by_label("Choose a password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Create workspace").click()

    page.wait_for_url("**/login/enrol/")
    assert page.locator(".qr svg").is_visible()
    screenshot(page, "02-enrol-totp")
    enrol_with_the_shown_key(page)
    codes = page.locator("ol.codes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9a-z]{4}(-[0-9a-z]{4}){3}", c) for c in codes)
    screenshot(page, "03-recovery-codes")
    page.get_by_role("link", name="I have saved them, continue").click()
    page.wait_for_url("**/w/harbour-books/inbox/")
    assert page.get_by_role("heading", name="Welcome to Harbour Books").is_visible()
    screenshot(page, "04-inbox")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")
    page.get_by_label("E-mail address").fill("rae@example.org")
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/login/verify/")
    screenshot(page, "05-verify")
    owner = User.objects.get(email="rae@example.org")
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(next_code(owner))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/w/harbour-books/inbox/")

    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Members").click()
    page.get_by_label("E-mail address", exact=True).fill("sam.agent@example.org")
    page.get_by_label("Role", exact=True).select_option("agent")
    page.get_by_role("button", name="Create invitation").click()
    invitation = page.get_by_label("Invitation link").input_value()
    screenshot(page, "06-members-invited")

    agent_page = chromium.new_context().new_page()
    agent_page.goto(invitation.replace("http://127.0.0.1:8000", live_server.url))
    agent_page.wait_for_url("**/invite/")
    agent_page.get_by_label("Your name").fill("Sam Agent")
    agent_page.get_by_label("Choose a password").fill("marble cactus evening tide")
    agent_page.get_by_role("button", name="Create account").click()
    agent_page.wait_for_url("**/login/enrol/")
    enrol_with_the_shown_key(agent_page)
    agent_page.get_by_role("link", name="I have saved them, continue").click()
    agent_page.wait_for_url("**/w/harbour-books/inbox/")
    member = Membership.objects.get(user__email="sam.agent@example.org")
    assert member.role == "agent"
    page.goto(f"{live_server.url}/w/harbour-books/members/")
    assert page.get_by_role("cell", name="Sam Agent", exact=True).is_visible()
    screenshot(page, "07-members")


def test_layout_holds_on_a_phone(chromium: Any, live_server: Any, screenshot: Any) -> None:
    page = chromium.new_context(viewport={"width": 375, "height": 740}).new_page()
    page.goto(f"{live_server.url}/login/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    assert page.evaluate("document.activeElement.id") == "id_email"  # the form is ready to type in
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0  # shown while focused, hidden otherwise
    screenshot(page, "08-login-phone")
