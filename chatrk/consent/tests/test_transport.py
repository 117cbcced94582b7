from __future__ import annotations

import pytest
from django.test import Client

from chatrk.accounts.actions import create_api_token
from chatrk.accounts.scopes import Scope
from chatrk.audit.actions import Actor, Origin
from chatrk.consent import actions, imports, queries
from chatrk.consent.gate import check_consent
from chatrk.consent.models import ConsentEvent
from chatrk.consent.tests.helpers import contact, grant, wording
from chatrk.core.models import Workspace
from chatrk.core.roles import Role
from chatrk.testing import add_member, make_workspace, signed_in

pytestmark = pytest.mark.django_db


def api_client(workspace: Workspace, scopes: list[Scope], role: Role = Role.OWNER) -> Client:
    owner = add_member(workspace, role=role)
    _, secret = create_api_token(owner, name="t", scopes=scopes, days=1, origin=Origin())
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_api_records_reads_and_revokes() -> None:
    ws = make_workspace()
    found = wording(ws)
    client = api_client(ws, [Scope.CONSENT_READ, Scope.CONSENT_WRITE])
    body = {
        "phone": "+44 7911 123123",
        "purposes": ["marketing"],
        "wording_version": found.version,
        "capture_method": "checkbox",
        "ip": "198.51.100.7",
        "evidence": "crm-1",
    }
    response = client.post("/api/v1/consent/grants", body, content_type="application/json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["states"]["marketing"] == "pending"  # double opt-in is on by default
    contact_id = data["contact_id"]
    response = client.get(f"/api/v1/consent/contacts/{contact_id}")
    history = response.json()["history"]
    assert history[0]["kind"] == "pending" and history[0]["wording_sha256"] == found.sha256
    assert "198.51.100.7" not in response.content.decode()
    assert "crm-1" not in response.content.decode()
    response = client.post(
        "/api/v1/consent/revocations",
        {"contact_id": contact_id, "purposes": ["marketing"]},
        content_type="application/json",
    )
    assert response.json()["states"]["marketing"] == "revoked"
    bad = client.post(
        "/api/v1/consent/grants", {**body, "wording_version": 99}, content_type="application/json"
    )
    assert bad.status_code == 400
    bad = client.post("/api/v1/consent/grants", {**body, "phone": "12"}, content_type="application/json")
    assert bad.status_code == 400 and "12" not in bad.json()["detail"]


def test_api_scopes() -> None:
    ws = make_workspace()
    reader = api_client(ws, [Scope.CONSENT_READ])
    response = reader.post(
        "/api/v1/consent/revocations",
        {"phone": "+447911123123", "purposes": ["marketing"]},
        content_type="application/json",
    )
    assert response.status_code == 403
    # a marketer cannot grant consent:write (the permission is not theirs)
    marketer = add_member(ws, role=Role.MARKETER)
    from chatrk.accounts.errors import AccountError

    with pytest.raises(AccountError):
        create_api_token(marketer, name="m", scopes=[Scope.CONSENT_WRITE], days=1, origin=Origin())


def test_api_wordings_and_import() -> None:
    ws = make_workspace()
    client = api_client(ws, [Scope.CONSENT_READ, Scope.CONSENT_WRITE])
    response = client.post(
        "/api/v1/consent/wordings",
        {"text": f"Offers from {ws.name}", "business_name": ws.name, "purposes": ["marketing"]},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["version"] == 1
    csv = (
        "phone,purposes,captured_at,wording_version\n"
        "+447911123123,marketing,2026-01-01T00:00:00Z,1\nbad,x,y,z\n"
    )
    response = client.post("/api/v1/consent/imports", {"csv": csv}, content_type="application/json")
    data = response.json()
    assert (data["pending"], data["rejected"]) == (1, 1)
    assert [r["line"] for r in data["rows"]] == [2, 3]


def test_import_reports_every_row() -> None:
    ws = make_workspace()
    wording(ws)
    wording(ws, ("utility",), text="Order updates from {name}.")
    actions.update_settings(ws.pk, actor=Actor("system"), double_opt_in=False, confirmation_template="c")
    csv = "\n".join(
        [
            "Phone,Purposes,Captured_At,Wording_Version,Source,Evidence",
            "+447911123123,marketing;utility,2026-01-01T10:00:00+00:00,1,paper,box 7",
            "+447911123123,marketing,2026-01-02T10:00:00Z,1,paper,dup",  # duplicate in file
            "07700900123,marketing,2026-01-01T10:00:00Z,1,paper,",  # not international
            "+447911123124,marketing,2999-01-01T10:00:00Z,1,paper,",  # future
            "+447911123125,marketing,2026-01-01T10:00:00,1,paper,",  # no offset
            "+447911123126,marketing,2026-01-01T10:00:00Z,9,paper,",  # unknown wording
            "+447911123127,marketing,2026-01-01T10:00:00Z,2,paper,",  # wording does not cover marketing
            "+447911123128,sms,2026-01-01T10:00:00Z,1,paper,",  # unknown purpose
            "+447911123129,marketing,2026-01-01T10:00:00Z,1,carrier-pigeon,",  # unknown source
            "+447911123130,marketing,2026-01-01T10:00:00Z",  # too few fields
            "+447911123131,utility,2026-01-01T10:00:00Z,2,,",  # fine
        ]
    )
    report = imports.import_consents(ws.pk, csv.encode(), actor=Actor("user", "1"))
    outcomes = [(r.line, r.outcome) for r in report.rows]
    assert outcomes == [
        (2, "imported"),
        (3, "rejected"),
        (4, "rejected"),
        (5, "rejected"),
        (6, "rejected"),
        (7, "rejected"),
        (8, "rejected"),
        (9, "rejected"),
        (10, "rejected"),
        (11, "rejected"),
        (12, "imported"),
    ]
    reasons = [r.reason for r in report.rows]
    assert "duplicate" in reasons[1] and "bad number" in reasons[2] and "future" in reasons[3]
    assert "offset" in reasons[4] and "unknown wording" in reasons[5] and "does not ask" in reasons[6]
    assert "purpose" in reasons[7].lower() and "unknown source" in reasons[8]
    assert all("7700" not in reason for reason in reasons)  # numbers are never echoed
    again = imports.import_consents(ws.pk, csv.encode(), actor=Actor("user", "1"))
    assert again.rows[0].outcome == "skipped"
    assert ConsentEvent.objects.filter(workspace_id=ws.pk, source="import").count() == 3
    assert imports.import_consents(ws.pk, b"\xff\xfe", actor=Actor("system")).error
    assert (
        "Missing columns"
        in imports.import_consents(ws.pk, "phone\n+447911123123", actor=Actor("system")).error
    )


def test_public_opt_in_page() -> None:
    ws = make_workspace()
    client = Client()
    assert client.get(f"/optin/{ws.slug}/").status_code == 404  # no wording yet
    found = wording(ws)
    page = client.get(f"/optin/{ws.slug}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert found.text in html and f"Wording version {found.version}" in html and "reply YES" in html
    assert (
        "http://" not in html.replace("http://testserver", "") and "https://" not in html
    )  # nothing third-party
    response = client.post(
        f"/optin/{ws.slug}/",
        {"phone": "+44 7911 123123", "agree": "on", "wording_version": found.version},
        HTTP_USER_AGENT="Mozilla/5.0 test",
    )
    assert response.status_code == 200 and "Reply YES" in response.content.decode()
    who = contact(ws)
    assert queries.states(ws.pk, who.pk)["marketing"] == "pending"
    event = queries.history(ws.pk, who.pk).first()
    assert event is not None and event.source == "web_form" and event.wording_id == found.pk
    assert not check_consent(ws.pk, who.pk, "marketing", window_open=False).allowed
    bad = client.post(
        f"/optin/{ws.slug}/", {"phone": "0770", "agree": "on", "wording_version": found.version}
    )
    assert bad.status_code == 400
    stale = client.post(f"/optin/{ws.slug}/", {"phone": "+447911123124", "agree": "on", "wording_version": 0})
    assert stale.status_code == 409


def test_public_opt_in_is_rate_limited_per_source() -> None:
    ws = make_workspace()
    found = wording(ws)
    client = Client()
    statuses = [
        client.post(
            f"/optin/{ws.slug}/",
            {"phone": f"+4479111231{n:02d}", "agree": "on", "wording_version": found.version},
        ).status_code
        for n in range(13)
    ]
    assert statuses[:10] == [200] * 10 and statuses[-1] == 429


def test_opt_in_page_without_double_opt_in_is_active_at_once() -> None:
    ws = make_workspace()
    found = wording(ws)
    actions.update_settings(ws.pk, actor=Actor("system"), double_opt_in=False, confirmation_template="c")
    Client().post(
        f"/optin/{ws.slug}/", {"phone": "+447911123123", "agree": "on", "wording_version": found.version}
    )
    assert check_consent(ws.pk, contact(ws).pk, "marketing", window_open=False).allowed


def test_workspace_consent_page() -> None:
    ws = make_workspace()
    compliance = add_member(ws, role=Role.COMPLIANCE)
    client = signed_in(compliance.user)
    assert client.get(f"/w/{ws.slug}/consent/").status_code == 200
    response = client.post(
        f"/w/{ws.slug}/consent/wordings/",
        {"business_name": ws.name, "purposes": ["marketing"], "text": f"Offers from {ws.name}."},
    )
    assert response.status_code == 302
    assert queries.current_wording(ws.pk) is not None
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(
        "c.csv",
        b"phone,purposes,captured_at,wording_version\n+447911123123,marketing,2026-01-01T00:00:00Z,1\n",
        content_type="text/csv",
    )
    page = client.post(f"/w/{ws.slug}/consent/import/", {"file": upload})
    assert page.status_code == 200 and "1 pending YES" in page.content.decode()
    agent = signed_in(add_member(ws, role=Role.AGENT).user)
    assert agent.get(f"/w/{ws.slug}/consent/").status_code == 200
    assert agent.post(f"/w/{ws.slug}/consent/wordings/", {}).status_code == 403
    grant(ws, contact(ws, "447911123999"))


def test_workspace_settings_page_changes_keywords() -> None:
    ws = make_workspace()
    client = signed_in(add_member(ws, role=Role.ADMIN).user)
    response = client.post(
        f"/w/{ws.slug}/consent/settings/",
        {
            "confirmation_template": "optin_yes",
            "confirmation_language": "es",
            "keyword_languages": ["es"],
            "opt_out_keywords": "basta, nomas",
            "resubscribe_keywords": "",
            "opt_out_reply": "  Acme: ya no recibirás mensajes. Responde START para volver.  ",
        },
    )
    assert response.status_code == 302
    current = actions.settings_for(ws.pk)
    assert (current.double_opt_in, current.confirmation_template) == (False, "optin_yes")
    assert current.opt_out_reply == "Acme: ya no recibirás mensajes. Responde START para volver."
    assert current.opt_out_keywords == ["BASTA", "NOMAS"]
    who = contact(ws)
    grant(ws, who)
    from chatrk.core.clock import now

    outcome = actions.apply_inbound_reply(ws.pk, who.pk, wamid="w", received_at=now(), text="Alto")
    assert outcome.outcome == "revoked"
    bad = client.post(
        f"/w/{ws.slug}/consent/settings/",
        {"confirmation_template": "x", "confirmation_language": "en", "opt_out_keywords": "two words"},
    )
    assert bad.status_code == 400


def test_free_text_opt_out_goes_to_an_agent_who_decides() -> None:
    from chatrk.consent.models import ReviewItem
    from chatrk.core.clock import now

    ws = make_workspace()
    who = contact(ws)
    grant(ws, who, ("marketing", "utility"))
    for n, text in enumerate(["stop texting me", "please remove me from your list"]):
        outcome = actions.apply_inbound_reply(ws.pk, who.pk, wamid=f"w{n}", received_at=now(), text=text)
        assert outcome.outcome == "needs_review"
    first, second = queries.open_reviews(ws.pk)
    agent = signed_in(add_member(ws, role=Role.AGENT).user)
    page = agent.get(f"/w/{ws.slug}/consent/")
    assert "Replies to review" in page.content.decode() and "remove me" not in page.content.decode()
    response = agent.post(f"/w/{ws.slug}/consent/reviews/{first.pk}/resolve/", {"decision": "revoke"})
    assert response.status_code == 302
    assert not check_consent(ws.pk, who.pk, "marketing", window_open=False).allowed
    assert actions.claim_opt_out_confirmation(ws.pk, who.pk) is not None
    agent.post(f"/w/{ws.slug}/consent/reviews/{second.pk}/resolve/", {"decision": "dismiss"})
    assert ReviewItem.objects.get(pk=second.pk).outcome == "dismissed"
    revoke = queries.history(ws.pk, who.pk).filter(kind="revoke").first()
    assert revoke is not None and revoke.source == "agent" and revoke.evidence_wamid == "w0"
    auditor = signed_in(add_member(ws, role=Role.AUDITOR).user)
    assert auditor.post(f"/w/{ws.slug}/consent/reviews/{second.pk}/resolve/", {}).status_code == 403
