"""Issue #7's last pieces in Chromium: blue ticks reach the customer's phone (the emulator) when an agent
opens a thread, and not once the admin turns them off; a sent template reads as the customer saw it;
a search's results follow live changes; the contact panel says "No requests yet"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.inbox.models import Conversation, Message
from chatrk.outbound import receipts
from chatrk.outbound.models import ReadReceipt
from chatrk.outbound.tests.conftest import make_world
from chatrk.testing import add_member, make_user, next_code
from chatrk.web.tests.conftest import WiredServer
from chatrk.web.tests.test_accessibility_browser import sign_in
from chatrk.web.tests.test_inbox_browser import arrived, panels_loaded

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AMELIA = "447700900101"
BRUNO = "447700900102"


def thread_url(wired: WiredServer, conversation_id: int) -> str:
    return f"{wired.url}/w/{wired.workspace.slug}/inbox/c/{conversation_id}/"


def test_opening_a_thread_turns_the_customers_ticks_blue_until_the_admin_turns_it_off(
    wired_server: WiredServer, chromium: Any, screenshot: Any
) -> None:
    wired_server.customer_writes(AMELIA, "Is my order ready?", name="Amelia Hart")
    first = arrived(wired_server, "Is my order ready?")
    assert wired_server.control.read_by_business(AMELIA) == []  # nobody has opened it yet
    page = wired_server.page_for(chromium)
    page.goto(thread_url(wired_server, first.conversation_id))
    page.get_by_text("Is my order ready?").wait_for()
    wired_server.wait_for(
        lambda: wired_server.control.read_by_business(AMELIA) == [first.wamid],
        what="the blue ticks on the customer's phone",
    )

    page.goto(f"{wired_server.url}/w/{wired_server.workspace.slug}/channels/")
    page.get_by_role("button", name="Stop read receipts").click()
    page.get_by_role("button", name="Send read receipts").wait_for()
    screenshot(page, "channel-read-receipts")
    wired_server.customer_writes(AMELIA, "Hello again?")
    second = arrived(wired_server, "Hello again?")
    page.goto(thread_url(wired_server, second.conversation_id))
    page.get_by_text("Hello again?").wait_for()
    assert Conversation.objects.get(pk=second.conversation_id).unread == 0  # the team's count cleared
    receipts.send_due()  # whatever the worker would send now
    assert ReadReceipt.objects.get(pk=second.conversation_id).message_id == first.pk  # nothing new owed
    assert wired_server.control.read_by_business(AMELIA) == [first.wamid]  # no blue ticks sent
    panels_loaded(page)  # by htmx, after the thread
    panel = page.locator("#contact-panel")
    assert "No requests yet." in panel.inner_text()
    assert panel.get_by_role("link", name="Data-subject requests").count() == 0


def test_a_search_follows_live_changes_without_a_reload(wired_server: WiredServer, chromium: Any) -> None:
    wired_server.customer_writes(AMELIA, "First question", name="Amelia Hart")
    arrived(wired_server, "First question")
    page = wired_server.page_for(chromium)
    complaints: list[str] = []
    page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)
    page.goto(wired_server.inbox_url() + "?view=all")
    page.get_by_label("Search by name or number").fill("amelia")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#conversation-list .conversation-rows a")
    rows.first.wait_for()
    assert rows.count() == 1 and "amelia" not in page.url.lower()
    page.evaluate("window.notReloaded = true")
    wired_server.customer_writes(BRUNO, "I am not Amelia's", name="Bruno <i>Costa</i>")
    wired_server.customer_writes("447700900103", "Me too", name="Amelia Stone")
    arrived(wired_server, "Me too")
    page.locator("#conversation-list a", has_text="Amelia Stone").wait_for(timeout=5000)
    wired_server.customer_writes(AMELIA, "Second question")
    arrived(wired_server, "Second question")
    page.locator("#conversation-list a", has_text="Amelia Hart").locator(".badge").wait_for(timeout=5000)
    names = page.locator("#conversation-list .who").all_inner_texts()
    assert sorted(names) == ["Amelia Hart", "Amelia Stone"]  # still the search's results: no Bruno
    assert page.evaluate("window.notReloaded") is True
    assert page.get_by_label("Search by name or number").input_value() == "amelia"
    assert complaints == [], complaints  # the POSTed poll broke neither the strict CSP nor htmx


def test_a_sent_template_reads_in_the_thread_as_the_customer_saw_it(
    chromium: Any, live_server: Any, screenshot: Any, axe_violations: Any
) -> None:
    world = make_world()
    closed = world.conversation(inbound_at=now() - timedelta(hours=25))
    agent = add_member(world.owner.workspace, make_user(name="Sam Agent"), Role.AGENT).user
    page = chromium.new_context(bypass_csp=True).new_page()  # for axe; the CSP is checked elsewhere
    sign_in(page, live_server.url, agent.email, next_code(agent))
    page.goto(f"{live_server.url}/w/{world.owner.workspace.slug}/inbox/c/{closed.pk}/")
    page.get_by_label("Header {{1}}").fill("A-1001")
    page.get_by_label("Body {{1}}").fill("<b>Ada</b>")
    page.get_by_label("Body {{2}}").fill("A-1001")
    page.get_by_label("Button “Track”: end of the web address").fill("A1001")
    page.get_by_role("button", name="Send template").click()
    page.get_by_role("status").filter(has_text="The template is on its way").wait_for()
    sent = Message.objects.get(conversation=closed, kind="template")
    page.goto(f"{live_server.url}/w/{world.owner.workspace.slug}/inbox/c/{closed.pk}/")
    bubble = page.locator(f"#m{sent.pk}")
    assert bubble.locator(".template-label").inner_text() == "Template “order_update”"
    assert bubble.locator(".body").inner_text().splitlines() == [
        "Order A-1001", "", "Hello <b>Ada</b>, your order A-1001 has shipped and arrives soon.", "",
        "Acme Shoes", "", "[Thanks]", "", "[Track]",
    ]  # fmt: skip
    assert bubble.locator(".body b").count() == 0  # the value shows as text, not markup
    screenshot(page, "inbox-template-sent")
    assert axe_violations(page) == []
