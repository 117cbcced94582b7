"""One agent's journey end to end in Chromium, against the server wired to the Cloud API emulator: a
customer writes and the open inbox shows it live; the agent replies from the composer; the window
closes and the agent sends an approved template; the customer sends STOP and the composer refuses the
next marketing template, in words."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from chatrk.consent.gate import check_consent
from chatrk.consent.models import Source
from chatrk.consent.tests.helpers import grant
from chatrk.core.clock import now
from chatrk.inbox.models import Contact, Conversation
from chatrk.msgtemplates.actions import submit_to_meta
from chatrk.msgtemplates.models import Template
from chatrk.msgtemplates.testing import make_template
from chatrk.web.tests.conftest import WiredServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOOR = "447700900555"
SALE = {
    "category": "MARKETING",
    "components": [
        {
            "type": "BODY",
            "text": "Hi {{1}}, our spring sale starts today: 20% off every trail shoe.",
            "example": {"body_text": [["Ada"]]},
        }
    ],
}


def approved_by_meta(wired: WiredServer, name: str) -> Template:
    """A marketing template approved internally, submitted to the emulator, approved there by webhook."""
    template = make_template(wired.workspace, channel=wired.channel, name=name, stage="approved", **SALE)
    template = submit_to_meta(template.pk)
    wired.control.review_now(template.meta_template_id)
    wired.wait_for(
        lambda: Template.objects.get(pk=template.pk).meta_status == Template.MetaStatus.APPROVED,
        what="Meta's approval by webhook",
    )
    return template


def choose_template(page: Any, label: str) -> None:
    """Picking a template swaps the composer (htmx): wait for the new form before filling it."""
    with page.expect_response(lambda response: "mode=template" in response.url):
        page.get_by_label("Approved template").select_option(label=label)
    page.wait_for_load_state("networkidle")


def reached_whatsapp(wired: WiredServer, text: str) -> bool:
    return any(text in json.dumps(message) for message in wired.control.messages(to=NOOR))


def test_an_agents_day_from_a_live_message_to_a_refused_marketing_template(
    wired_server: WiredServer, chromium: Any, screenshot: Any
) -> None:
    wired = wired_server
    approved_by_meta(wired, "spring_sale")
    page = wired.page_for(chromium)
    page.goto(wired.inbox_url() + "?view=all")

    wired.customer_writes(NOOR, "Hello! Do you ship to Leeds?", name="Noor Haddad")
    row = page.locator("#conversation-list a", has_text="Noor Haddad")
    row.wait_for(timeout=5000)  # live: no reload
    row.click()
    page.get_by_text("Hello! Do you ship to Leeds?").wait_for()

    page.get_by_label("Message", exact=True).fill("Yes: Leeds in two days.")
    page.get_by_role("button", name="Send", exact=True).click()
    wired.wait_for(lambda: reached_whatsapp(wired, "Leeds in two days"), what="the reply at the customer")

    contact = Contact.objects.get(workspace=wired.workspace)
    grant(wired.workspace, contact, ("marketing",), source=Source.WEB_FORM, double_opt_in=False)
    Conversation.objects.filter(contact=contact).update(last_inbound_at=now() - timedelta(hours=25))
    page.reload()
    assert page.get_by_label("Message", exact=True).count() == 0  # the window closed: templates only
    choose_template(page, "spring_sale (en_US, marketing)")
    page.get_by_label("Body {{1}}").fill("Noor")
    page.locator("#template-preview").get_by_text("Hi Noor, our spring sale starts today").wait_for()
    page.get_by_role("button", name="Send template").click()
    page.get_by_role("status").filter(has_text="is on its way").wait_for()
    wired.wait_for(lambda: reached_whatsapp(wired, "spring_sale"), what="the template at the customer")
    screenshot(page, "journey-template-sent")

    wired.customer_writes(NOOR, "STOP")
    wired.wait_for(
        lambda: not check_consent(wired.workspace.pk, contact.pk, "marketing", window_open=True).allowed,
        what="the opt-out to be honoured",
    )
    page.reload()
    page.get_by_role("link", name="Template", exact=True).click()
    choose_template(page, "spring_sale (en_US, marketing)")
    page.get_by_label("Body {{1}}").fill("Noor")
    page.get_by_role("button", name="Send template").click()
    refusal = page.get_by_role("alert").filter(has_text="Not sent.")
    refusal.wait_for()
    assert "Consent" in refusal.inner_text()
    screenshot(page, "journey-marketing-refused")
