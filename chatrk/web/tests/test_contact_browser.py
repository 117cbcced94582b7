"""In Chromium: an agent records consent from the contact panel and blocks the number (htmx, strict CSP);
the panel, the consent ledger and the channel-health page pass axe; screenshots for review."""

from __future__ import annotations

from typing import Any

import pytest

from chatrk.audit.actions import Actor
from chatrk.consent import actions as consent_actions
from chatrk.consent.models import ConsentEvent, Source
from chatrk.consent.tests.helpers import wording
from chatrk.core.roles import Role
from chatrk.inbox.actions import update_channel_health
from chatrk.inbox.models import Channel, Contact
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


def test_an_agent_records_consent_and_blocks_the_number(
    chromium: Any, live_server: Any, axe_violations: Any, screenshot: Any
) -> None:
    workspace = make_workspace("Blue Lantern")
    owner = add_member(workspace, make_user(name="Olive Owner"), Role.OWNER)
    agent = add_member(workspace, make_user(name="Ada Agent"), Role.AGENT)
    conversation = make_conversation(make_channel(owner), "447700900321", name="<b>Zoë</b> Customer")
    make_message(conversation, "Yes, send me offers please")
    shown = wording(workspace, purposes=("marketing", "utility"))
    consent_actions.record_consent(
        workspace.pk, conversation.contact_id, ["utility"],
        consent_actions.Proof(Source.WEB_FORM, Actor("anonymous"), wording_id=shown.pk,
                              capture_method="checkbox", ip="203.0.113.9", user_agent="Android"),
        double_opt_in=False,
    )  # fmt: skip
    panel_url = f"{live_server.url}/w/{workspace.slug}/inbox/c/{conversation.pk}/contact/"

    page = chromium.new_context().new_page()  # the real CSP: htmx must work without eval or inline script
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, live_server.url, agent.user.email, next_code(agent.user))
    page.goto(panel_url)
    assert page.get_by_role("heading", name="<b>Zoë</b> Customer").is_visible()  # shown as text
    page.get_by_role("button", name="Show number").click()
    page.get_by_text("+447700900321").wait_for()
    assert page.locator("#capture-wording").inner_text() == shown.text  # the exact wording, verbatim
    form = page.locator("form.capture")
    form.get_by_label("Marketing").check()
    form.get_by_label("How they agreed").select_option("verbal")
    form.get_by_label("Their latest message in this conversation is the evidence").check()
    form.get_by_role("button", name="Record consent").click()
    page.get_by_text("Consent recorded.").wait_for()
    assert page.url == panel_url  # swapped in place by htmx, no navigation
    assert page.locator("#purpose-marketing").inner_text() == "Marketing: active"
    marketing = ConsentEvent.objects.get(contact_id=conversation.contact_id, purpose="marketing")
    assert marketing.source == Source.AGENT and marketing.wording_id == shown.pk
    assert marketing.captured_by_id == str(agent.user_id) and marketing.evidence_message_id is not None

    page.get_by_label("Notes about this person").fill("Prefers mornings")
    page.get_by_role("button", name="Save notes").click()
    page.get_by_text("Notes saved.").wait_for()
    page.get_by_role("button", name="Block number").click()
    page.get_by_role("button", name="Unblock number").wait_for()
    assert Contact.objects.get(pk=conversation.contact_id).blocked_at is not None
    assert errors == []

    checker = chromium.new_context(bypass_csp=True).new_page()
    sign_in(checker, live_server.url, owner.user.email, next_code(owner.user))
    checker.goto(panel_url)
    checker.locator("#contact-panel details").first.evaluate("d => d.open = true")
    screenshot(checker, "contact-panel")
    assert axe_violations(checker) == []
    checker.set_viewport_size({"width": 390, "height": 844})  # a phone
    checker.goto(panel_url)
    assert checker.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth + 1"
    )  # no sideways scroll


def test_the_ledger_and_channel_health_pages_pass_axe(
    chromium: Any, live_server: Any, axe_violations: Any, screenshot: Any
) -> None:
    workspace = make_workspace("Blue Lantern")
    owner = add_member(workspace, make_user(name="Olive Owner"), Role.OWNER)
    channel = make_channel(owner)
    update_channel_health(
        channel, quality_rating="YELLOW", messaging_tier="TIER_1K", throughput_level="STANDARD"
    )
    second = make_channel(owner)
    update_channel_health(second, health=Channel.Health.REAUTHORISE)
    shown = wording(workspace)
    for n, source in enumerate([Source.WEB_FORM, Source.AGENT, Source.IMPORT]):
        contact_id = make_conversation(channel, f"44770090{n:04d}").contact_id
        consent_actions.record_consent(
            workspace.pk, contact_id, ["marketing", "utility"],
            consent_actions.Proof(source, Actor.user(owner.user_id), wording_id=shown.pk,
                                  capture_method="checkbox", ip="198.51.100.7" if n == 0 else ""),
            double_opt_in=False,
        )  # fmt: skip
    consent_actions.revoke_consent(
        workspace.pk,
        contact_id,
        ["marketing"],
        consent_actions.Proof(Source.KEYWORD, Actor("contact"), keyword="STOP"),
    )
    page = chromium.new_context(bypass_csp=True).new_page()
    sign_in(page, live_server.url, owner.user.email, next_code(owner.user))
    page.goto(f"{live_server.url}/w/{workspace.slug}/consent/ledger/")
    page.locator("table.ledger details").first.evaluate("d => d.open = true")
    screenshot(page, "consent-ledger")
    assert axe_violations(page) == []
    page.get_by_label("Exact WhatsApp number").fill("+44 7700 900001")
    page.get_by_role("button", name="Find").click()
    page.wait_for_url("**/consent/ledger/?contact=*")
    assert "900001" not in page.url and page.locator("table.ledger tbody tr").count() == 2
    page.goto(f"{live_server.url}/w/{workspace.slug}/channels/")
    assert page.get_by_role("heading", name="Support needs re-authorisation").is_visible()
    screenshot(page, "channel-health")
    assert axe_violations(page) == []
