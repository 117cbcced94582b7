"""The contact panel: audited reads, consent with its proof and history, capture with the exact wording,
notes, block/unblock, the data-subject placeholder; escaping and roles."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from chatrk.audit.actions import Actor
from chatrk.audit.models import AuditEvent
from chatrk.consent import actions as consent_actions
from chatrk.consent.gate import check_consent
from chatrk.consent.models import ConsentEvent, Kind, Source
from chatrk.consent.tests.helpers import wording
from chatrk.core.models import Membership
from chatrk.core.roles import Role
from chatrk.crypto.fields import open_for_system
from chatrk.inbox.models import Contact, Conversation
from chatrk.testing import (
    add_member,
    make_channel,
    make_conversation,
    make_message,
    make_user,
    make_workspace,
    signed_in,
)

pytestmark = pytest.mark.django_db

NUMBER = "447700900321"


@dataclass
class Panel:
    agent: Membership
    conversation: Conversation
    client: Client

    @property
    def url(self) -> str:
        return f"/w/{self.agent.workspace.slug}/inbox/c/{self.conversation.pk}/contact/"

    def contact(self) -> Contact:
        return Contact.objects.get(pk=self.conversation.contact_id)


@pytest.fixture
def panel() -> Panel:
    workspace = make_workspace("Blue Lantern")
    owner = add_member(workspace, make_user(name="Olive Owner"), Role.OWNER)
    agent = add_member(workspace, make_user(name="Ada Agent"), Role.AGENT)
    conversation = make_conversation(make_channel(owner), NUMBER, name="<script>alert(1)</script> Zoë")
    return Panel(agent, conversation, signed_in(agent.user))


def audits(action: str, **details: str) -> list[AuditEvent]:
    found = AuditEvent.objects.filter(action=action)
    return [e for e in found if all(e.details.get(k) == v for k, v in details.items())]


def test_the_panel_shows_the_name_escaped_and_hides_the_number_until_asked(panel: Panel) -> None:
    page = panel.client.get(panel.url)
    body = page.content.decode()
    assert page.status_code == 200 and "<html" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Zoë" in body and "<script>alert(1)" not in body
    assert NUMBER not in body and "Show number" in body
    assert audits("crypto.reveal", purpose="contact_panel")
    shown = panel.client.post(panel.url + "number/", headers={"HX-Request": "true"})
    assert f"+{NUMBER}" in shown.content.decode() and "<html" not in shown.content.decode()
    [event] = audits("crypto.reveal", purpose="show_number")
    assert event.actor_id == str(panel.agent.user_id) and "447700" not in str(event.details)


def test_an_htmx_request_gets_only_the_partial(panel: Panel) -> None:
    partial = panel.client.get(panel.url, headers={"HX-Request": "true"}).content.decode()
    assert 'id="contact-panel"' in partial
    assert "<html" not in partial


def test_consent_per_purpose_shows_state_proof_and_full_history(panel: Panel) -> None:
    workspace = panel.agent.workspace
    shown = wording(workspace)
    proof = consent_actions.Proof(
        source=Source.WEB_FORM, captured_by=Actor("anonymous"), wording_id=shown.pk,
        capture_method="checkbox", ip="203.0.113.9", user_agent="Mozilla/5.0 <b>test</b>",
    )  # fmt: skip
    consent_actions.record_consent(
        workspace.pk, panel.conversation.contact_id, ["marketing"], proof, double_opt_in=False
    )
    consent_actions.revoke_consent(
        workspace.pk, panel.conversation.contact_id, ["marketing"],
        consent_actions.Proof(
            source=Source.KEYWORD, captured_by=Actor("contact"), keyword="STOP", evidence_wamid="wamid.S"
        ),
    )  # fmt: skip
    body = panel.client.get(panel.url).content.decode()
    assert 'Marketing: <span class="state state-revoked">revoked</span>' in body
    assert 'Utility: <span class="state state-none">none</span>' in body
    assert shown.sha256 in body and "Blue Lantern" in body and "Hosted opt-in page" in body
    assert "203.0.113.9" in body and "Mozilla/5.0 &lt;b&gt;test&lt;/b&gt;" in body
    assert "STOP" in body and "wamid.S" in body and "Full history (2 events)" in body
    assert audits("crypto.reveal", purpose="consent_proof")  # the IP address is an audited read


def test_capturing_consent_records_the_wording_shown_with_source_agent(panel: Panel) -> None:
    shown = wording(panel.agent.workspace)
    message = make_message(panel.conversation, "yes please send me offers")
    response = panel.client.post(panel.url + "consent/", {
        "wording_version": shown.version, "purposes": ["marketing", "utility"], "capture_method": "verbal",
        "evidence_last_message": "on",
    }, headers={"HX-Request": "true"})  # fmt: skip
    assert response.status_code == 200 and "Consent recorded." in response.content.decode()
    events = ConsentEvent.objects.filter(contact_id=panel.conversation.contact_id).order_by("purpose")
    assert [(e.purpose, e.kind, e.source) for e in events] == [
        ("marketing", Kind.GRANT, Source.AGENT), ("utility", Kind.GRANT, Source.AGENT),
    ]  # fmt: skip
    first = events[0]
    assert first.wording_id == shown.pk and first.captured_by_id == str(panel.agent.user_id)
    assert first.capture_method == "verbal" and first.evidence_message_id == message.pk
    assert first.ip is None  # the agent's address is not the person's
    assert "Ada Agent" in response.content.decode()


def test_consent_against_an_outdated_wording_is_refused_and_nothing_is_recorded(panel: Panel) -> None:
    old = wording(panel.agent.workspace)
    wording(panel.agent.workspace, text="{name} may send you offers on WhatsApp. Reply STOP to opt out.")
    response = panel.client.post(panel.url + "consent/", {
        "wording_version": old.version, "purposes": ["marketing"], "capture_method": "verbal",
    })  # fmt: skip
    assert response.status_code == 409 and "wording changed" in response.content.decode()
    assert not ConsentEvent.objects.exists()


def test_a_purpose_the_wording_does_not_ask_for_is_refused(panel: Panel) -> None:
    shown = wording(panel.agent.workspace, purposes=("utility",))
    response = panel.client.post(panel.url + "consent/", {
        "wording_version": shown.version, "purposes": ["marketing"], "capture_method": "verbal",
    })  # fmt: skip
    assert response.status_code == 400 and not ConsentEvent.objects.exists()


def test_without_a_wording_the_panel_says_so_and_capture_is_refused(panel: Panel) -> None:
    assert "first publishes the wording" in panel.client.get(panel.url).content.decode()
    response = panel.client.post(
        panel.url + "consent/", {"purposes": ["marketing"], "capture_method": "verbal"}
    )
    assert response.status_code == 409 and not ConsentEvent.objects.exists()


def test_notes_are_saved_encrypted_audited_and_shown_escaped(panel: Panel) -> None:
    response = panel.client.post(panel.url + "notes/", {"notes": "  Prefers <i>mornings</i>  "})
    assert response.status_code == 302
    contact = panel.contact()
    assert open_for_system(contact, "notes") == "Prefers <i>mornings</i>"
    assert b"mornings" not in bytes(contact.__dict__["notes"])  # stored as ciphertext
    assert audits("contact.notes_changed")
    assert "Prefers &lt;i&gt;mornings&lt;/i&gt;" in panel.client.get(panel.url).content.decode()
    too_long = panel.client.post(panel.url + "notes/", {"notes": "x" * 2001})
    assert (
        too_long.status_code == 400 and open_for_system(panel.contact(), "notes") == "Prefers <i>mornings</i>"
    )


def test_block_and_unblock_from_the_panel(panel: Panel) -> None:
    blocked = panel.client.post(panel.url + "block/", headers={"HX-Request": "true"}).content.decode()
    assert "Number blocked" in blocked and "Unblock number" in blocked
    assert panel.contact().blocked_at is not None and audits("contact.blocked")
    panel.client.post(panel.url + "unblock/")
    assert panel.contact().blocked_at is None and audits("contact.unblocked")


def test_read_only_roles_see_the_panel_but_cannot_change_it(panel: Panel) -> None:
    auditor = add_member(panel.agent.workspace, make_user(name="Ann Auditor"), Role.AUDITOR)
    compliance = add_member(panel.agent.workspace, make_user(name="Cy Compliance"), Role.COMPLIANCE)
    assert signed_in(auditor.user).get(panel.url).status_code == 403  # no inbox access at all
    officer = signed_in(compliance.user)
    page = officer.get(panel.url).content.decode()
    assert "Consent" in page and "Block number" not in page and "Record consent" not in page
    assert officer.post(panel.url + "block/").status_code == 403
    assert officer.post(panel.url + "notes/", {"notes": "x"}).status_code == 403
    assert panel.contact().blocked_at is None


def test_data_subject_requests_say_none_yet_instead_of_a_dead_link(panel: Panel) -> None:
    page = panel.client.get(panel.url).content.decode()
    section = page[page.index('aria-labelledby="requests-heading"') :]
    section = section[: section.index("</section>")]
    assert "No requests yet." in section and "erase" in section
    assert "<a " not in section  # nothing to click until the privacy issue builds the requests
    url = f"/w/{panel.agent.workspace.slug}/contacts/{panel.conversation.contact_id}/requests/"
    assert panel.client.get(url).status_code == 404  # the old placeholder page is gone


def test_tampered_ids_answer_404(panel: Panel) -> None:
    other = make_conversation(
        make_channel(add_member(make_workspace("Other"), role=Role.OWNER)), "447700900999"
    )
    url = f"/w/{panel.agent.workspace.slug}/inbox/c/{other.pk}/contact/"
    assert panel.client.get(url).status_code == 404
    assert panel.client.post(url + "block/").status_code == 404
    assert panel.client.get(f"/w/{panel.agent.workspace.slug}/inbox/c/0/contact/").status_code == 404
    assert Contact.objects.get(pk=other.contact_id).blocked_at is None


def test_an_opt_out_told_to_an_agent_is_recorded_and_gates_the_next_send(panel: Panel) -> None:
    shown = wording(panel.agent.workspace)
    contact_id = panel.conversation.contact_id
    panel.client.post(panel.url + "consent/", {
        "wording_version": shown.version, "purposes": ["marketing"], "capture_method": "verbal",
    })  # fmt: skip
    assert check_consent(panel.agent.workspace_id, contact_id, "marketing", window_open=True).allowed
    response = panel.client.post(
        panel.url + "opt-out/", {"purposes": ["marketing"]}, headers={"HX-Request": "true"}
    )
    assert "Opt-out recorded." in response.content.decode()
    revoked = ConsentEvent.objects.get(contact_id=contact_id, kind=Kind.REVOKE)
    assert (revoked.source, revoked.captured_by_id) == (Source.AGENT, str(panel.agent.user_id))
    assert not check_consent(panel.agent.workspace_id, contact_id, "marketing", window_open=True).allowed
    assert panel.client.post(panel.url + "opt-out/", {"purposes": ["service"]}).status_code == 400
