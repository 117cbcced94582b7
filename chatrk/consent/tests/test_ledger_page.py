"""The workspace's consent ledger page: newest first, keyset pages, filters, lookup by exact number
(never in a URL), proofs shown through an audited read, and an audited CSV export safe for spreadsheets."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from chatrk.audit.actions import Actor
from chatrk.audit.models import AuditEvent
from chatrk.consent import actions
from chatrk.consent.models import ConsentEvent, Source
from chatrk.consent.tests.helpers import contact, wording
from chatrk.core.models import Workspace
from chatrk.core.roles import Role
from chatrk.testing import add_member, make_user, make_workspace, signed_in

pytestmark = pytest.mark.django_db


def url(workspace: Workspace, rest: str = "") -> str:
    return f"/w/{workspace.slug}/consent/ledger/{rest}"


def web_form_consent(
    workspace: Workspace, number: str, *, ip: str = "198.51.100.7", agent: str = "Firefox"
) -> int:
    who = contact(workspace, number)
    proof = actions.Proof(
        source=Source.WEB_FORM, captured_by=Actor("anonymous"), wording_id=wording(workspace).pk,
        capture_method="checkbox", ip=ip, user_agent=agent,
    )  # fmt: skip
    actions.record_consent(
        workspace.pk, who.pk, ["marketing", "utility", "authentication"], proof, double_opt_in=False
    )
    return who.pk


@pytest.fixture
def workspace() -> Workspace:
    return make_workspace("Blue Lantern")


@pytest.fixture
def officer(workspace: Workspace) -> Client:
    return signed_in(add_member(workspace, make_user(name="Cy Compliance"), Role.COMPLIANCE).user)


def event_ids(body: str) -> list[int]:
    return [int(part.split("<", 1)[0]) for part in body.split("Proof of event ")[1:]]


def test_pages_are_newest_first_and_keyset_paginated_without_repeats(
    workspace: Workspace, officer: Client
) -> None:
    for n in range(19):
        web_form_consent(workspace, f"4477009{n:05d}")  # 3 events each: 57
    first = officer.get(url(workspace)).content.decode()
    ids = event_ids(first)
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    assert ids[0] == ConsentEvent.objects.order_by("-id").first().pk  # type: ignore[union-attr]
    next_link = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    second = officer.get(url(workspace) + next_link).content.decode()
    more = event_ids(second)
    assert len(more) == 7 and not set(more) & set(ids) and max(more) < min(ids)
    assert 'rel="next"' not in second


def test_filters_by_purpose_source_and_state(workspace: Workspace, officer: Client) -> None:
    kept = web_form_consent(workspace, "447700900001")
    actions.revoke_consent(
        workspace.pk, kept, ["marketing"], actions.Proof(Source.KEYWORD, Actor("contact"), keyword="STOP")
    )
    revoked = event_ids(officer.get(url(workspace), {"state": "revoked"}).content.decode())
    assert [ConsentEvent.objects.get(pk=i).kind for i in revoked] == ["revoke"]
    utility = event_ids(
        officer.get(url(workspace), {"purpose": "utility", "source": "web_form"}).content.decode()
    )
    assert [ConsentEvent.objects.get(pk=i).purpose for i in utility] == ["utility"]
    assert event_ids(officer.get(url(workspace), {"source": "import"}).content.decode()) == []
    assert officer.get(url(workspace), {"state": "bogus"}).status_code == 400
    assert officer.get(url(workspace), {"before": "not-a-number"}).status_code == 400


def test_finding_a_person_by_number_redirects_to_their_contact_id(
    workspace: Workspace, officer: Client
) -> None:
    wanted = web_form_consent(workspace, "447700900002")
    web_form_consent(workspace, "447700900003")
    found = officer.post(url(workspace), {"phone": "+44 7700 900002"})
    assert found.status_code == 302 and found["Location"].endswith(f"?contact={wanted}")
    assert "900002" not in found["Location"]
    rows = event_ids(officer.get(found["Location"]).content.decode())
    assert {ConsentEvent.objects.get(pk=i).contact_id for i in rows} == {wanted} and len(rows) == 3


def test_a_number_of_another_workspace_finds_nobody(workspace: Workspace, officer: Client) -> None:
    web_form_consent(make_workspace("Other Co"), "447700900004")
    missing = officer.post(url(workspace), {"phone": "+447700900004"})
    assert missing.status_code == 400 and "No contact in this workspace" in missing.content.decode()


def test_rows_show_their_proof_through_an_audited_read(workspace: Workspace, officer: Client) -> None:
    web_form_consent(workspace, "447700900005", agent="<script>x()</script>")
    body = officer.get(url(workspace)).content.decode()
    assert "198.51.100.7" in body and "&lt;script&gt;x()&lt;/script&gt;" in body and "<script>x()" not in body
    assert wording(workspace).sha256 in body and "Hosted opt-in page" in body
    assert AuditEvent.objects.filter(action="crypto.reveal", details__purpose="consent_ledger").exists()


def test_the_csv_export_has_every_proof_field_is_audited_and_defuses_formulas(
    workspace: Workspace, officer: Client
) -> None:
    web_form_consent(workspace, "447700900006", agent='=HYPERLINK("http://evil")')
    response = officer.get(url(workspace, "export/"), {"purpose": "marketing"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode())))
    assert len(rows) == 1 and rows[0]["purpose"] == "marketing" and rows[0]["ip"] == "198.51.100.7"
    assert rows[0]["user_agent"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["wording_sha256"] == wording(workspace).sha256 and rows[0]["state_after"] == "active"
    [event] = AuditEvent.objects.filter(action="consent.ledger.exported")
    assert event.details["rows"] == 1 and event.details["purpose"] == "marketing"


def test_agents_read_the_ledger_but_cannot_export_it(workspace: Workspace) -> None:
    agent = signed_in(add_member(workspace, role=Role.AGENT).user)
    assert agent.get(url(workspace)).status_code == 200
    assert agent.get(url(workspace, "export/")).status_code == 403
    assert not AuditEvent.objects.filter(action="consent.ledger.exported").exists()
