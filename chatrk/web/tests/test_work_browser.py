"""The conversation tools in a real browser: assign to me, add a label, snooze, resolve, export; axe-clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chatrk.audit.actions import SYSTEM, Origin
from chatrk.audit.models import AuditEvent
from chatrk.core.roles import Role
from chatrk.inbox import work
from chatrk.inbox.models import Conversation
from chatrk.testing import (
    add_member,
    make_channel,
    make_conversation,
    make_message,
    make_user,
    make_workspace,
    next_code,
)
from chatrk.web.tests.test_accessibility_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_owner_works_a_conversation_with_the_tools(
    chromium: Any, live_server: Any, axe_violations: Any, screenshot: Any, tmp_path: Path
) -> None:
    user = make_user(name="Rae Owner")
    workspace = make_workspace("Harbour Books")
    owner = add_member(workspace, user, Role.OWNER)
    add_member(workspace, make_user(name="Sam Agent"), Role.AGENT)
    conversation = make_conversation(make_channel(owner), "447700900123", name="Valentina")
    make_message(conversation, "<script>alert(1)</script> Where is my order?")
    work.create_label(workspace.pk, "billing", actor=SYSTEM, origin=Origin())
    page = chromium.new_context(bypass_csp=True).new_page()
    sign_in(page, live_server.url, user.email, next_code(user))
    page.goto(f"{live_server.url}/w/{workspace.slug}/inbox/c/{conversation.pk}/work/")
    tools = page.locator("#work-tools")
    state = page.locator("#work-state")

    page.get_by_role("button", name="Assign to me").click()
    state.filter(has_text="Assigned to: Rae Owner").wait_for()
    assert page.get_by_role("button", name="Assign to me").count() == 0  # swapped in place by htmx

    page.get_by_label("Add a label").select_option(label="billing")
    page.get_by_role("button", name="Add label").click()
    tools.get_by_role("button", name="Remove label billing").wait_for()

    page.get_by_role("button", name="For an hour").click()
    state.filter(has_text="Snoozed until").wait_for()
    page.get_by_label("Until (date and time, UTC)").fill("2031-03-04T10:15")
    page.get_by_role("button", name="Snooze until then").click()
    state.filter(has_text="until 4 Mar 2031 10:15 UTC").wait_for()

    page.get_by_role("button", name="Resolve").click()
    state.filter(has_text="Status: Resolved").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    assert axe_violations(page) == []
    screenshot(page, "work-tools")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download transcript (text)").click()
    download = download_info.value
    assert download.suggested_filename == f"conversation-{conversation.number}-transcript.txt"
    saved = tmp_path / "transcript.txt"
    download.save_as(saved)
    text = saved.read_text()
    assert "Customer: <script>alert(1)</script> Where is my order?" in text
    assert "Event: Resolved by Rae Owner" in text
    assert AuditEvent.objects.filter(action="conversation.transcript_exported").count() == 1

    found = Conversation.objects.get(pk=conversation.pk)
    assert (found.status, found.assignee_id) == ("resolved", user.pk)

    page.goto(f"{live_server.url}/w/{workspace.slug}/labels/")
    assert axe_violations(page) == []


def test_the_tools_fit_a_phone(chromium: Any, live_server: Any, axe_violations: Any) -> None:
    user = make_user(name="Rae Owner")
    workspace = make_workspace("Harbour Books")
    conversation = make_conversation(make_channel(add_member(workspace, user, Role.OWNER)))
    page = chromium.new_context(bypass_csp=True, viewport={"width": 375, "height": 740}).new_page()
    sign_in(page, live_server.url, user.email, next_code(user))
    page.goto(f"{live_server.url}/w/{workspace.slug}/inbox/c/{conversation.pk}/work/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert axe_violations(page) == []
