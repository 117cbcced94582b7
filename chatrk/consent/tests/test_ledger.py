from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction

from chatrk.audit.actions import Actor
from chatrk.audit.models import AuditEvent
from chatrk.consent import actions, queries
from chatrk.consent.errors import ConsentError, LedgerIsAppendOnly
from chatrk.consent.gate import check_consent, check_consent_many
from chatrk.consent.guard import install_guards
from chatrk.consent.models import ConsentEvent, ConsentState, ConsentWording, Source
from chatrk.consent.tests.helpers import contact, grant, wording
from chatrk.core.clock import now
from chatrk.crypto.actions import SubjectRef, shred_subject
from chatrk.crypto.fields import open_for_system
from chatrk.testing import make_workspace

pytestmark = pytest.mark.django_db


def test_grant_then_gate_allows_only_that_purpose() -> None:
    ws = make_workspace()
    who = contact(ws)
    assert not check_consent(ws.pk, who.pk, "marketing", window_open=False).allowed
    grant(ws, who, ("marketing",))
    assert check_consent(ws.pk, who.pk, "marketing", window_open=False).allowed
    decision = check_consent(ws.pk, who.pk, "utility", window_open=True)
    assert decision == actions_refusal("no utility consent recorded")


def actions_refusal(reason: str) -> object:
    from chatrk.consent.gate import ConsentDecision

    return ConsentDecision(False, reason)


def test_service_needs_the_window() -> None:
    ws = make_workspace()
    who = contact(ws)
    assert check_consent(ws.pk, who.pk, "service", window_open=True).allowed
    assert not check_consent(ws.pk, who.pk, "service", window_open=False).allowed


def test_gate_fails_closed() -> None:
    ws = make_workspace()
    who = contact(ws)
    grant(ws, who, ("marketing",))
    assert check_consent(ws.pk, who.pk, "promotional", window_open=True).reason.startswith(
        "consent could not be checked"
    )
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE consent_consentstate RENAME TO consent_consentstate_away")
    try:
        with transaction.atomic():
            decision = check_consent(ws.pk, who.pk, "marketing", window_open=True)
            many = check_consent_many(ws.pk, [who.pk], "marketing")
            raise RuntimeError("roll back the failed transaction")
    except RuntimeError:
        pass
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE consent_consentstate_away RENAME TO consent_consentstate")
    assert not decision.allowed and "could not be checked" in decision.reason
    assert not many[who.pk].allowed


def test_double_opt_in_is_pending_until_yes() -> None:
    ws = make_workspace()
    who = contact(ws)
    change = grant(ws, who, ("marketing", "utility"), source=Source.WEB_FORM)
    assert queries.states(ws.pk, who.pk)["marketing"] == "pending"
    assert "double opt-in" in check_consent(ws.pk, who.pk, "marketing", window_open=False).reason
    due = actions.claim_double_opt_ins(ws.pk)
    assert [(d.contact_id, d.purposes, d.template) for d in due] == [
        (who.pk, ("marketing", "utility"), "consent_confirmation")
    ]
    assert actions.claim_double_opt_ins(ws.pk) == []  # claimed once
    actions.mark_double_opt_in_sent(ws.pk, change.change_id, wamid="wamid.confirm")
    outcome = actions.apply_inbound_reply(ws.pk, who.pk, wamid="wamid.yes", received_at=now(), text="YES")
    assert outcome.outcome == "confirmed"
    assert check_consent(ws.pk, who.pk, "marketing", window_open=False).allowed
    confirm = queries.history(ws.pk, who.pk).filter(kind="confirm").first()
    assert confirm is not None and confirm.evidence_wamid == "wamid.yes"


def test_confirmation_payload_confirms_too() -> None:
    ws = make_workspace()
    who = contact(ws)
    grant(ws, who, ("utility",), source=Source.API)
    early = actions.apply_inbound_reply(ws.pk, who.pk, wamid="w0", received_at=now(), text="yes")
    assert early.outcome == "none"  # the confirmation template has not gone out yet
    assert queries.states(ws.pk, who.pk)["utility"] == "pending"
    (due,) = actions.claim_double_opt_ins(ws.pk)
    claimed = actions.apply_inbound_reply(ws.pk, who.pk, wamid="w0b", received_at=now(), text="yes")
    assert claimed.outcome == "none"  # claimed to send, but WhatsApp has not accepted it yet
    actions.mark_double_opt_in_sent(ws.pk, due.change_id, wamid="wamid.request")
    outcome = actions.apply_inbound_reply(
        ws.pk, who.pk, wamid="w1", received_at=now(), button_payload="CHATRK_CONSENT_YES"
    )
    assert outcome.outcome == "confirmed"
    assert check_consent(ws.pk, who.pk, "utility", window_open=False).allowed


def test_stop_revokes_everything_and_one_confirmation_only() -> None:
    ws = make_workspace()
    who = contact(ws)
    grant(ws, who, ("marketing", "utility", "authentication"))
    first = actions.apply_inbound_reply(ws.pk, who.pk, wamid="w1", received_at=now(), text=" stop ")
    assert first.outcome == "revoked" and first.confirmation_due
    for category in ("marketing", "utility", "authentication"):
        assert not check_consent(ws.pk, who.pk, category, window_open=True).allowed
    assert not check_consent(ws.pk, who.pk, "service", window_open=True).allowed  # held
    second = actions.apply_inbound_reply(ws.pk, who.pk, wamid="w2", received_at=now(), text="STOP")
    assert not second.confirmation_due
    assert actions.claim_opt_out_confirmation(ws.pk, who.pk) == first.change.change_id  # type: ignore[union-attr]
    assert actions.claim_opt_out_confirmation(ws.pk, who.pk) is None
    # the customer writes again: replies are allowed, marketing is not
    actions.apply_inbound_reply(ws.pk, who.pk, wamid="w3", received_at=now(), text="where is my parcel?")
    assert check_consent(ws.pk, who.pk, "service", window_open=True).allowed
    assert not check_consent(ws.pk, who.pk, "marketing", window_open=True).allowed
    # START restores what was active before
    back = actions.apply_inbound_reply(ws.pk, who.pk, wamid="w4", received_at=now(), text="START")
    assert back.outcome == "resubscribed"
    assert check_consent(ws.pk, who.pk, "marketing", window_open=False).allowed
    # a new revocation owes a new confirmation
    again = actions.apply_inbound_reply(ws.pk, who.pk, wamid="w5", received_at=now(), text="quit")
    assert again.confirmation_due
    assert actions.claim_opt_out_confirmation(ws.pk, who.pk) == again.change.change_id  # type: ignore[union-attr]


def test_start_does_not_create_consent_that_never_existed() -> None:
    ws = make_workspace()
    who = contact(ws)
    actions.apply_inbound_reply(ws.pk, who.pk, wamid="w1", received_at=now(), text="STOP")
    actions.apply_inbound_reply(ws.pk, who.pk, wamid="w2", received_at=now(), text="START")
    assert not check_consent(ws.pk, who.pk, "marketing", window_open=False).allowed


def test_free_text_is_flagged_not_revoked() -> None:
    ws = make_workspace()
    who = contact(ws)
    grant(ws, who)
    outcome = actions.apply_inbound_reply(ws.pk, who.pk, wamid="w", received_at=now(), text="stop texting me")
    assert outcome.outcome == "needs_review"
    assert check_consent(ws.pk, who.pk, "marketing", window_open=False).allowed
    assert AuditEvent.objects.filter(action="consent.review_needed", workspace_id=ws.pk).exists()


def test_user_preferences_and_131050_revoke_marketing_only() -> None:
    ws = make_workspace()
    who = contact(ws)
    grant(ws, who, ("marketing", "utility"))
    actions.apply_user_preference(ws.pk, who.pk, value="stop", occurred_at=now())
    assert not check_consent(ws.pk, who.pk, "marketing", window_open=False).allowed
    assert check_consent(ws.pk, who.pk, "utility", window_open=False).allowed
    actions.apply_user_preference(ws.pk, who.pk, value="resume", occurred_at=now())
    assert check_consent(ws.pk, who.pk, "marketing", window_open=False).allowed
    change = actions.apply_send_error_131050(ws.pk, who.pk, wamid="wamid.x")
    assert change.events[0].error_code == 131050
    assert not check_consent(ws.pk, who.pk, "marketing", window_open=False).allowed
    assert actions.apply_user_preference(ws.pk, who.pk, value="mystery", occurred_at=now()).changed is False


def test_old_consent_never_overrides_a_newer_revocation() -> None:
    ws = make_workspace()
    who = contact(ws)
    actions.apply_inbound_reply(ws.pk, who.pk, wamid="w", received_at=now(), text="STOP")
    with pytest.raises(ConsentError, match="predates"):
        grant(ws, who, at=now() - timedelta(days=3))
    grant(ws, who, at=now())  # a new, later consent is fine


def test_wording_rules_and_versions() -> None:
    ws = make_workspace()
    first = wording(ws)
    assert wording(ws) == first  # same text, same version
    second = wording(ws, text="Offers from {name}: yes please.")
    assert (first.version, second.version) == (1, 2)
    assert second.sha256 == actions.wording_hash(second.text)
    with pytest.raises(ConsentError, match="name the business"):
        actions.publish_wording(
            ws.pk, text="Offers: yes", business_name=ws.name, purposes=["marketing"], actor=Actor("system")
        )
    narrow = wording(ws, ("utility",), text="Order updates from {name}.")
    who = contact(ws)
    proof = actions.Proof(source=Source.AGENT, captured_by=Actor("user", "1"), wording_id=narrow.pk)
    with pytest.raises(ConsentError, match="does not ask"):
        actions.record_consent(ws.pk, who.pk, ["marketing"], proof)


def test_ledger_is_append_only_in_models_and_database() -> None:
    ws = make_workspace()
    who = contact(ws)
    event = grant(ws, who).events[0]
    with pytest.raises(LedgerIsAppendOnly):
        event.save()
    with pytest.raises(LedgerIsAppendOnly):
        event.delete()
    for statement in (
        "UPDATE consent_consentevent SET kind = 'revoke'",
        "DELETE FROM consent_consentevent",
        "UPDATE consent_consentwording SET text = 'changed'",
        "DELETE FROM consent_consentwording",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentEvent.objects.filter(pk=event.pk).update(source="api")
    assert ConsentWording.objects.filter(workspace_id=ws.pk).count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no TRUNCATE")
def test_the_ledger_cannot_be_truncated_on_postgresql() -> None:
    ws = make_workspace()
    grant(ws, contact(ws))
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # else the test's own pending checks refuse it
    for table in ("consent_consentevent", "consent_consentwording"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"TRUNCATE {table} CASCADE")
    assert ConsentEvent.objects.filter(workspace_id=ws.pk).count() == 1


def test_installing_the_guards_again_changes_nothing() -> None:
    install_guards(connection)  # migration 0006 runs it on databases the earlier guards protect
    ws = make_workspace()
    event = grant(ws, contact(ws)).events[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ConsentEvent.objects.filter(pk=event.pk).update(source="api")


def test_state_is_derived_from_events_and_rebuildable() -> None:
    ws = make_workspace()
    people = [contact(ws, f"44770090{n:04d}") for n in range(3)]
    grant(ws, people[0], ("marketing", "utility"))
    grant(ws, people[1], ("marketing",), source=Source.WEB_FORM)
    actions.apply_inbound_reply(ws.pk, people[0].pk, wamid="a", received_at=now(), text="STOP")
    actions.apply_inbound_reply(ws.pk, people[0].pk, wamid="b", received_at=now(), text="UNSTOP")
    actions.apply_inbound_reply(ws.pk, people[2].pk, wamid="c", received_at=now(), text="OPTOUT")
    assert actions.verify_states(ws.pk) == []
    before = sorted(
        ConsentState.objects.filter(workspace_id=ws.pk).values_list("contact_id", "purpose", "status")
    )
    ConsentState.objects.filter(workspace_id=ws.pk, contact_id=people[1].pk).update(status="active")
    assert actions.verify_states(ws.pk) == [(people[1].pk, "marketing")]
    actions.rebuild_states(ws.pk)
    after = sorted(
        ConsentState.objects.filter(workspace_id=ws.pk).values_list("contact_id", "purpose", "status")
    )
    assert before == after and actions.verify_states(ws.pk) == []


def test_personal_proof_is_encrypted_and_shredded_with_the_contact() -> None:
    ws = make_workspace()
    who = contact(ws)
    found = wording(ws)
    proof = actions.Proof(
        source=Source.WEB_FORM,
        captured_by=Actor("anonymous"),
        wording_id=found.pk,
        ip="203.0.113.9",
        user_agent="Mozilla/5.0 test",
        evidence_ref="form-77",
    )
    event = actions.record_consent(ws.pk, who.pk, ["marketing"], proof).events[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ip, user_agent, evidence_ref FROM consent_consentevent WHERE id = %s", [event.pk]
        )
        raw = b"".join(bytes(v) for v in cursor.fetchone())
    assert b"203.0.113.9" not in raw and b"Mozilla" not in raw and b"form-77" not in raw
    stored = ConsentEvent.objects.get(pk=event.pk)
    assert open_for_system(stored, "ip") == "203.0.113.9"
    shred_subject(ws.pk, SubjectRef("contact", who.pk), actor=Actor("system"), reason="dsar-1")
    assert ConsentEvent.objects.filter(pk=event.pk).exists()  # the ledger's structure survives
    audit = AuditEvent.objects.filter(workspace_id=ws.pk, action="consent.pending").get()
    assert audit.details["purposes"] == "marketing" and audit.target_id == str(who.pk)


def test_batch_gate_answers_every_id() -> None:
    ws = make_workspace()
    people = [contact(ws, f"44770091{n:04d}") for n in range(4)]
    grant(ws, people[0])
    grant(ws, people[1], source=Source.IMPORT)
    decisions = check_consent_many(ws.pk, [p.pk for p in people] + [123], "marketing")
    assert [decisions[p.pk].allowed for p in people] == [True, False, False, False]
    assert not decisions[123].allowed


def test_other_workspace_consent_does_not_count() -> None:
    ws, other = make_workspace(), make_workspace()
    who = contact(ws)
    grant(ws, who)
    assert not check_consent(other.pk, who.pk, "marketing", window_open=False).allowed
    with pytest.raises(ConsentError):
        actions.apply_inbound_reply(other.pk, who.pk, wamid="x", received_at=now(), text="STOP")


def test_the_opt_out_reply_is_the_workspaces_and_must_be_written() -> None:
    from chatrk.audit.actions import Actor

    ws = make_workspace()
    assert "unsubscribed" in actions.settings_for(ws.pk).opt_out_reply  # the default wording
    for bad in ("   ", "x" * 1025):
        with pytest.raises(ConsentError):
            actions.update_settings(ws.pk, actor=Actor("system"), double_opt_in=True,
                                    confirmation_template="c", opt_out_reply=bad)  # fmt: skip
    kept = actions.update_settings(
        ws.pk,
        actor=Actor("system"),
        double_opt_in=True,
        confirmation_template="c",
        opt_out_reply=" Acme: bye. ",
    )
    assert kept.opt_out_reply == "Acme: bye."
    again = actions.update_settings(
        ws.pk, actor=Actor("system"), double_opt_in=True, confirmation_template="c"
    )
    assert again.opt_out_reply == "Acme: bye."  # not given: unchanged
