"""The composer in a real browser: a reply with a canned response, an attachment, a note; the window
closing while the page is open turns it into the template picker, whose preview escapes what is typed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.inbox.canned import create_canned
from chatrk.inbox.models import Conversation, Message
from chatrk.outbound.models import OutboxItem
from chatrk.outbound.tests.conftest import World, make_world
from chatrk.testing import add_member, make_user, next_code
from chatrk.web.tests.test_accessibility_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _media_dir(tmp_path: Any, settings: Any) -> None:
    settings.MEDIA_DIR = tmp_path / "media"


def composer_url(base: str, world: World, conversation: Conversation) -> str:
    return f"{base}/w/{world.owner.workspace.slug}/inbox/c/{conversation.pk}/composer/"


def signed_in_page(chromium: Any, base: str, world: World, **options: Any) -> Any:
    agent = add_member(world.owner.workspace, make_user(name="Sam Agent"), Role.AGENT).user
    page = chromium.new_context(**options).new_page()
    sign_in(page, base, agent.email, next_code(agent))
    return page


def test_composing_in_a_browser(chromium: Any, live_server: Any, screenshot: Any) -> None:
    base = live_server.url
    world = make_world()
    create_canned(world.owner, "hours", "We are open 9-5, Monday to Friday.")
    open_chat = world.conversation()
    page = signed_in_page(chromium, base, world)
    complaints: list[str] = []
    page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)

    page.goto(composer_url(base, world, open_chat))
    assert page.get_by_role("timer").inner_text().startswith("23 h")
    message = page.get_by_label("Message", exact=True)
    message.click()
    message.press_sequentially("Hi! /hours ")
    assert message.input_value() == "Hi! We are open 9-5, Monday to Friday."
    page.get_by_role("button", name="Send", exact=True).click()
    page.get_by_role("status").filter(has_text="is on its way").wait_for()
    assert message.input_value() == ""
    assert OutboxItem.objects.count() == 1

    page.get_by_label("File", exact=True).set_input_files(
        {"name": "receipt.png", "mimeType": "image/png", "buffer": PNG}
    )
    page.get_by_label("Caption (optional)").fill("Your receipt")
    page.get_by_role("button", name="Send file").click()
    page.get_by_role("status").filter(has_text="The file is on its way").wait_for()
    assert OutboxItem.objects.count() == 2

    page.get_by_role("link", name="Internal note").click()
    page.get_by_label("Internal note").fill("Customer prefers a call")
    page.get_by_role("button", name="Add note").click()
    page.get_by_role("status").filter(has_text="Note added").wait_for()
    assert Message.objects.filter(direction=Message.Direction.NOTE).count() == 1
    assert OutboxItem.objects.count() == 2  # the note was never queued

    with_draft = world.conversation(inbound_at=now() - timedelta(hours=24) + timedelta(seconds=4))
    page.goto(composer_url(base, world, with_draft))
    page.get_by_label("Message", exact=True).fill("Sorry for the wait")
    page.get_by_role("alert").filter(has_text="this text can no longer be sent").wait_for(timeout=15_000)
    assert page.get_by_label("Message", exact=True).input_value() == "Sorry for the wait"  # kept
    assert page.get_by_role("button", name="Send", exact=True).is_disabled()

    closing = world.conversation(inbound_at=now() - timedelta(hours=24) + timedelta(seconds=4))
    page.goto(composer_url(base, world, closing))
    assert page.get_by_label("Message", exact=True).is_visible()
    # No reload: at zero the countdown asks for the composer again, which is now the template picker.
    page.get_by_text("The 24-hour window closed").wait_for(timeout=15_000)
    assert page.get_by_label("Message", exact=True).count() == 0
    page.get_by_label("Header {{1}}").fill("A-1001")
    page.get_by_label("Body {{1}}").fill("<b>Ada</b>")
    page.get_by_label("Body {{2}}").fill("A-1001")
    preview = page.locator("#template-preview")
    preview.get_by_text("Hello <b>Ada</b>, your order A-1001 has shipped").wait_for()
    assert preview.locator("b").count() == 0  # typed markup shows as text
    page.get_by_label("Button “Track”: end of the web address").fill("A1001")
    screenshot(page, "composer-template")
    page.get_by_role("button", name="Send template").click()
    page.get_by_role("status").filter(has_text="The template is on its way").wait_for()
    assert OutboxItem.objects.count() == 3
    assert complaints == [], complaints  # nothing broke the strict CSP, no htmx error


def test_the_composer_passes_axe_and_fits_a_phone(
    chromium: Any, live_server: Any, axe_violations: Any, screenshot: Any
) -> None:
    base = live_server.url
    world = make_world()
    create_canned(world.owner, "hours", "We are open 9-5.")
    open_chat, closed_chat = world.conversation(), world.conversation(inbound_at=now() - timedelta(days=2))
    page = signed_in_page(chromium, base, world, bypass_csp=True, viewport={"width": 375, "height": 740})
    found: dict[str, list[str]] = {}
    for name, address in [
        ("reply", composer_url(base, world, open_chat)),
        ("note", composer_url(base, world, open_chat) + "?mode=note"),
        ("template", composer_url(base, world, closed_chat)),
    ]:
        page.goto(address)
        found[name] = axe_violations(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, name
    screenshot(page, "composer-template-phone")
    send = page.get_by_role("button", name="Send template")
    send.click()  # empty parameters: refused in words, the form stays
    page.get_by_role("alert").filter(has_text="Fill in every parameter.").wait_for()
    found["refused"] = axe_violations(page)
    admin = add_member(world.owner.workspace, make_user(name="Ari Admin"), Role.ADMIN).user
    admin_page = chromium.new_context(bypass_csp=True).new_page()
    sign_in(admin_page, base, admin.email, next_code(admin))
    admin_page.goto(f"{base}/w/{world.owner.workspace.slug}/canned/")
    found["canned"] = axe_violations(admin_page)
    assert {name: issues for name, issues in found.items() if issues} == {}
