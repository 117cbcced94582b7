"""The inbox end to end in Chromium, against a server wired to the Cloud API emulator: customers write
through signed webhooks, replies go out over HTTP, and the page follows without a reload."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chatrk.audit.actions import Actor
from chatrk.audit.models import AuditEvent
from chatrk.core.roles import Role
from chatrk.inbox.models import Conversation, Media, Message
from chatrk.outbound.actions import SendBy, do_enqueue
from chatrk.web.tests.conftest import PHONE_NUMBER_ID, WiredServer
from chatrk.whatsapp.messages import TextMessage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AMELIA = "447700900101"
PHONE = {"viewport": {"width": 375, "height": 740}}


def arrived(wired: WiredServer, body: str) -> Message:
    """Waits for the drainer to store the customer's message; returns it."""
    wired.wait_for(lambda: any(True for _ in inbound_with(body)), what=f"the message {body!r}")
    return next(iter(inbound_with(body)))


def inbound_with(body: str) -> list[Message]:
    from chatrk.crypto.fields import open_for_system

    rows = Message.objects.filter(direction=Message.Direction.INBOUND).order_by("-pk")[:20]
    return [row for row in rows if open_for_system(row, "body") == body]


def panels_loaded(page: Any) -> None:
    """Waits for the work tools and the contact panel, which the thread page loads by htmx."""
    page.locator("#work-tools:not(.panel-loading) #work-state").wait_for(timeout=5000)
    page.locator("#contact-panel:not(.panel-loading) dl.facts").wait_for(timeout=5000)


def reply(wired: WiredServer, conversation_id: int, body: str) -> Message:
    """What the composer will do: an agent's free-text reply, queued through every gate."""
    owner = wired.owner
    by = SendBy(owner.workspace_id, Actor.user(owner.user_id), Role.OWNER, user_id=owner.user_id)
    conversation = Conversation.objects.select_related("channel", "contact").get(pk=conversation_id)
    return do_enqueue(by, conversation, TextMessage(body)).message


def test_a_customer_writes_and_the_open_inbox_shows_it_live_then_ticks_follow(
    wired_server: WiredServer, chromium: Any, screenshot: Any
) -> None:
    page = wired_server.page_for(chromium)
    page.goto(wired_server.inbox_url() + "?view=all")
    page.evaluate("window.notReloaded = true")
    wired_server.customer_writes(AMELIA, "Hi! Any news on my trail shoes?", name="Amelia Hart")
    message = arrived(wired_server, "Hi! Any news on my trail shoes?")
    stored_at = time.monotonic()
    row = page.locator("#conversation-list a", has_text="Amelia Hart")
    row.wait_for(timeout=3000)
    assert time.monotonic() - stored_at <= 3.0  # the next 2 s poll, plus the fragment's own time
    assert page.evaluate("window.notReloaded") is True
    assert "1" in row.locator(".badge").inner_text()
    assert page.locator(".filters a", has_text="All").locator(".count").inner_text() == "1"
    page.reload()  # the welcome text beside the first conversation gives way to the list's prompt
    screenshot(page, "inbox-list")

    row.click()
    page.wait_for_url(f"**/inbox/c/{message.conversation_id}/**")
    assert page.get_by_text("Hi! Any news on my trail shoes?").is_visible()
    assert Conversation.objects.get(pk=message.conversation_id).unread == 0
    panels_loaded(page)  # by htmx after the thread, under the strict CSP
    assert page.locator("#contact-panel h2").inner_text() == "Amelia Hart"
    page.evaluate("window.notReloaded = true")
    sent = reply(wired_server, message.conversation_id, "They left our warehouse this morning.")
    item = page.locator(f"#m{sent.pk}")
    item.wait_for(timeout=5000)
    # Sent, delivered (0.5 s) and read (1.5 s) by the emulator's customer, each through its webhook, the
    # drainer and the next poll: seconds apart on a loaded machine.
    item.locator(".tick-read").wait_for(timeout=15000)
    wired_server.customer_writes(AMELIA, "Great, thank you!")
    page.get_by_text("Great, thank you!").wait_for(timeout=5000)
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "inbox-thread")


def test_a_failed_message_shows_why_and_retry_really_sends_it_again(
    wired_server: WiredServer, chromium: Any
) -> None:
    wired_server.customer_writes(AMELIA, "Can I change my size?", name="Amelia Hart")
    message = arrived(wired_server, "Can I change my size?")
    wired_server.control.block(AMELIA, PHONE_NUMBER_ID)  # WhatsApp will not deliver to this person now
    sent = reply(wired_server, message.conversation_id, "Yes, which size would you like?")
    wired_server.wait_for(
        lambda: Message.objects.get(pk=sent.pk).status == Message.Status.FAILED, what="the failed status"
    )
    page = wired_server.page_for(chromium)
    page.goto(f"{wired_server.url}/w/{wired_server.workspace.slug}/inbox/c/{message.conversation_id}/")
    failure = page.locator(f"#m{sent.pk} .failure")
    assert "Not delivered:" in failure.inner_text()
    wired_server.control.unblock(AMELIA, PHONE_NUMBER_ID)
    failure.get_by_role("button", name="Retry").click()
    page.locator(f"#m{sent.pk} .tick-delivered, #m{sent.pk} .tick-read").first.wait_for(timeout=10000)
    texts = [m["text"]["body"] for m in wired_server.control.received(AMELIA) if m["type"] == "text"]
    assert texts == ["Yes, which size would you like?"]  # the retry reached the phone; the first never did
    assert AuditEvent.objects.filter(action="message.retried", target_id=str(sent.pk)).exists()


def test_a_customers_picture_previews_and_downloads_through_the_audited_endpoint(
    wired_server: WiredServer, chromium: Any
) -> None:
    picture = "emulated jpeg " * 50
    wired_server.customer_sends(
        AMELIA, "image", name="Amelia Hart", caption="the scratch", data=picture, mime_type="image/jpeg"
    )
    message = arrived(wired_server, "the scratch")
    wired_server.wait_for(
        lambda: Media.objects.filter(message=message, stored_at__isnull=False).exists(), what="the file"
    )
    media = Media.objects.get(message=message)
    page = wired_server.page_for(chromium, accept_downloads=True)
    page.goto(f"{wired_server.url}/w/{wired_server.workspace.slug}/inbox/c/{message.conversation_id}/")
    page.get_by_role("img", name="Picture: the scratch").wait_for(timeout=5000)
    page.wait_for_function("document.querySelector('.media img').complete")  # fetched through the endpoint
    with page.expect_download() as download:
        page.locator(f"#m{message.pk} a.download").click()
    assert download.value.path().read_bytes() == picture.encode()
    reads = AuditEvent.objects.filter(action="media.read", target_id=str(media.pk))
    assert {event.details["disposition"] for event in reads} == {"inline", "attachment"}


def test_html_and_script_from_a_customer_show_as_text(wired_server: WiredServer, chromium: Any) -> None:
    name = "<b>Bold</b><script>window.pwned=1</script>"
    body = "<img src=x onerror=\"window.pwned=2\"> <a href='https://evil.example'>click</a>"
    wired_server.customer_writes(AMELIA, body, name=name)
    message = arrived(wired_server, body)
    page = wired_server.page_for(chromium)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.goto(f"{wired_server.url}/w/{wired_server.workspace.slug}/inbox/c/{message.conversation_id}/")
    assert page.locator("#thread-title").inner_text() == name
    assert page.locator(f"#m{message.pk} .body").inner_text() == body
    assert page.locator("main b, main img[src='x'], main a[href^='https://evil']").count() == 0
    assert page.evaluate("window.pwned") is None and dialogs == []


def test_list_and_thread_pass_axe_on_desktop_and_phone_and_the_keyboard_moves_through_the_list(
    wired_server: WiredServer, chromium: Any, axe_violations: Any, screenshot: Any
) -> None:
    for n, who in enumerate(["Amelia Hart", "Bruno Costa", "Clara Weiss"]):
        wired_server.customer_writes(f"44770090010{n}", f"Hello from {who}", name=who)
        last = arrived(wired_server, f"Hello from {who}")
    found: dict[str, list[str]] = {}
    thread = f"{wired_server.url}/w/{wired_server.workspace.slug}/inbox/c/{last.conversation_id}/"
    page = wired_server.page_for(chromium, bypass_csp=True)  # one sign-in: each uses a new TOTP step
    for label, viewport in (("desktop", {"width": 1280, "height": 800}), ("phone", PHONE["viewport"])):
        page.set_viewport_size(viewport)
        page.goto(wired_server.inbox_url() + "?view=all")
        found[f"list {label}"] = axe_violations(page)
        page.goto(thread)
        panels_loaded(page)  # axe checks the side panels too
        found[f"thread {label}"] = axe_violations(page)
        if label == "phone":
            screenshot(page, "inbox-phone")
            wide = page.evaluate(
                "[...document.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > 376)"
                ".map(e => e.tagName + '.' + e.className).slice(0, 8)"
            )
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, wide
            assert not page.locator(".conversations").is_visible()  # the thread replaces the list
            assert page.get_by_role("link", name="← Conversations").is_visible()
    assert {where: issues for where, issues in found.items() if issues} == {}

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(wired_server.inbox_url() + "?view=all")
    page.keyboard.press("j")
    first = page.evaluate("document.activeElement.dataset.conversation")
    page.keyboard.press("ArrowDown")
    second = page.evaluate("document.activeElement.dataset.conversation")
    assert first and second and first != second
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.dataset.conversation") == first
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/inbox/c/{first}/**")
