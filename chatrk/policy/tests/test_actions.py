"""Actions: the checks other apps call, the review queue, tuning floors, and what is (not) stored."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import connection

from chatrk.audit.actions import Actor
from chatrk.audit.models import AuditEvent
from chatrk.core.roles import Role
from chatrk.policy import actions, queries
from chatrk.policy.engine import Action, Category
from chatrk.policy.errors import PolicyError
from chatrk.policy.models import BodyVolume, HeldItem, HeldKind, HeldStatus, PolicySettings
from chatrk.policy.tuning import TuningInput
from chatrk.testing import add_member, make_workspace

pytestmark = pytest.mark.django_db

FREE_FORM = "Hi! Our shop on King Street opens at 10 tomorrow."


def reviewer(workspace_id: int, role: Role = Role.COMPLIANCE) -> actions.Reviewer:
    from chatrk.core.models import Workspace

    member = add_member(Workspace.objects.get(pk=workspace_id), role=role)
    return actions.Reviewer(workspace_id, member.user_id, member.role, Actor.user(member.user_id))


def tuning_input(**changes: Any) -> TuningInput:
    values: dict[str, Any] = {"hold_at": {}, "block_at": {}, "extra_terms": [], "blocked_domains": [],
                              "allowed_domains": []}  # fmt: skip
    values.update(changes)
    return TuningInput(**values)


def held(
    workspace_id: int, ref_id: int = 7, text: str = "Cheap vapes, order now: https://bit.ly/v"
) -> HeldItem:
    decision = actions.check_outbound_message(workspace_id, text)
    assert decision.action is Action.HOLD
    return actions.hold_for_review(workspace_id, decision, kind=HeldKind.MESSAGE, ref_id=ref_id, text=text,
                                   contact_id=99)  # fmt: skip


def test_the_same_free_form_body_to_many_people_is_held_and_counted_by_hmac_only() -> None:
    workspace = make_workspace()
    for _ in range(20):
        assert actions.check_outbound_message(workspace.pk, FREE_FORM).action is Action.ALLOW
    # Differently spaced or cased, it is still the same body.
    decision = actions.check_outbound_message(
        workspace.pk, "hi!  OUR shop on King Street opens at 10 tomorrow."
    )
    assert (decision.action, decision.category) == (Action.HOLD, Category.SPAM)
    assert "signal.same_body" in {e.rule for e in decision.evidence}
    row = BodyVolume.objects.get(workspace=workspace)
    assert row.recipients == 21 and len(row.body_hmac) == 64 and "King" not in row.body_hmac
    other = make_workspace()
    assert (
        actions.check_outbound_message(other.pk, FREE_FORM).action is Action.ALLOW
    )  # counters are per workspace


def test_volume_falls_out_of_the_window_after_a_day() -> None:
    workspace = make_workspace()
    with time_machine.travel("2026-03-01 10:00Z"):
        actions.check_outbound_message(workspace.pk, FREE_FORM, recipients=20)
    with time_machine.travel("2026-03-02 11:00Z"):
        assert actions.check_outbound_message(workspace.pk, FREE_FORM).action is Action.ALLOW
        assert BodyVolume.objects.for_workspace(workspace.pk).count() == 1  # the old hour was pruned


def test_campaigns_are_not_counted_as_repeated_free_form() -> None:
    workspace = make_workspace()
    decision = actions.check_outbound_message(workspace.pk, FREE_FORM, recipients=10_000, campaign=True)
    assert decision.action is Action.ALLOW and not BodyVolume.objects.exists()


def test_a_failing_check_holds_the_message_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(actions, "check_text", broken)
    decision = actions.check_outbound_message(make_workspace().pk, FREE_FORM)
    assert decision.action is Action.HOLD and decision.evidence[0].note == "RuntimeError"
    assert "fails closed" in decision.explanation
    assert actions.check_template(1, ["Hello {{1}}"]).action is Action.HOLD


def test_templates_are_checked_without_volume_and_blocks_are_audited() -> None:
    workspace = make_workspace()
    assert actions.check_template(
        workspace.pk, ["Order update", "Hi {{1}}, order {{2}} has shipped."]
    ).allowed
    decision = actions.check_template(workspace.pk, "Congratulations, you have won! Claim your prize")
    assert decision.action is Action.BLOCK and decision.category is Category.SCAM
    event = AuditEvent.objects.get(action="policy.decision")
    assert event.details["subject"] == "template" and event.details["category"] == "scam"
    assert "Congratulations" not in str(event.details)


def test_held_text_is_encrypted_and_cleared_once_decided() -> None:
    workspace = make_workspace()
    item = held(workspace.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM policy_helditem WHERE id = %s", [item.pk])
        stored = bytes(cursor.fetchone()[0])
    assert b"vapes" not in stored
    assert queries.review_status(workspace.pk, HeldKind.MESSAGE, 7) is HeldStatus.HELD
    done = actions.release(reviewer(workspace.pk), item.pk, comment="Allowed in our market")
    assert (done.kind, done.ref_id, done.status) == (HeldKind.MESSAGE, 7, HeldStatus.RELEASED)
    item.refresh_from_db()
    assert item.text is None and item.comment is not None and item.decided_by_id is not None
    assert queries.review_status(workspace.pk, HeldKind.MESSAGE, 7) is HeldStatus.RELEASED
    event = AuditEvent.objects.get(action="policy.released")
    assert event.details == {"kind": "message", "ref_id": 7, "category": "illegal", "commented": True}


def test_only_compliance_decides_once_and_only_in_its_workspace() -> None:
    workspace = make_workspace()
    item = held(workspace.pk)
    with pytest.raises(PermissionDenied):
        actions.reject(reviewer(workspace.pk, Role.AGENT), item.pk)
    with pytest.raises(PolicyError):
        actions.reject(reviewer(make_workspace().pk), item.pk)
    actions.reject(reviewer(workspace.pk), item.pk)
    with pytest.raises(PolicyError, match="already decided"):
        actions.release(reviewer(workspace.pk), item.pk)
    assert queries.review_status(workspace.pk, HeldKind.MESSAGE, 7) is HeldStatus.REJECTED
    assert queries.review_status(workspace.pk, HeldKind.MESSAGE, 8) is None


def test_only_hold_decisions_enter_the_queue() -> None:
    workspace = make_workspace()
    decision = actions.check_outbound_message(workspace.pk, FREE_FORM)
    with pytest.raises(PolicyError):
        actions.hold_for_review(workspace.pk, decision, kind=HeldKind.MESSAGE, ref_id=1, text=FREE_FORM)


def test_erasing_a_contact_clears_their_held_text() -> None:
    workspace = make_workspace()
    item = held(workspace.pk)
    assert actions.forget_contact(workspace.pk, 99, actor=Actor("system")) == 1
    item.refresh_from_db()
    assert item.text is None and item.status == HeldStatus.HELD


def test_tuning_is_stricter_only_and_audited() -> None:
    workspace = make_workspace()
    who = reviewer(workspace.pk)
    with pytest.raises(PolicyError, match="floor"):
        actions.update_settings(who, tuning_input(block_at={"hate": 150}))
    with pytest.raises(PolicyError, match="lowered"):
        actions.update_settings(who, tuning_input(same_body_limit=500))
    with pytest.raises(PolicyError, match="cannot allow"):
        actions.update_settings(who, tuning_input(extra_terms=[{"term": "casino", "category": "illegal",
                                                                "action": "allow"}]))  # fmt: skip
    with pytest.raises(PermissionDenied):
        actions.update_settings(reviewer(workspace.pk, Role.MARKETER), tuning_input())
    actions.update_settings(
        who,
        tuning_input(block_at={"illegal": 50}, blocked_domains=["https://Evil.example/"],
                     extra_terms=[{"term": "airdrop", "category": "scam", "action": "block"}]),
    )  # fmt: skip
    tuning = queries.tuning_for(workspace.pk)
    assert tuning.block_at[Category.ILLEGAL] == 50 and tuning.blocked_domains == {"evil.example"}
    assert actions.check_outbound_message(workspace.pk, "Free airdrop today").action is Action.BLOCK
    assert actions.check_outbound_message(workspace.pk, "See evil.example/deal").action is Action.BLOCK
    event = AuditEvent.objects.get(action="policy.settings_changed")
    assert event.details["changed"] == "block_at,blocked_domains,extra_terms"


def test_a_row_edited_behind_the_app_cannot_loosen_a_floor() -> None:
    workspace = make_workspace()
    actions.update_settings(reviewer(workspace.pk), tuning_input())
    PolicySettings.objects.filter(workspace=workspace).update(
        block_at={"hate": 10_000}, same_body_limit=10_000
    )
    tuning = queries.tuning_for(workspace.pk)
    assert tuning.block_at[Category.HATE] == 100 and tuning.same_body_limit == 20


def test_holding_the_same_item_twice_keeps_one_queue_entry() -> None:
    workspace = make_workspace()
    first = held(workspace.pk)
    assert held(workspace.pk).pk == first.pk
    assert HeldItem.objects.for_workspace(workspace.pk).count() == 1
    actions.reject(reviewer(workspace.pk), first.pk)
    assert held(workspace.pk).pk != first.pk  # once decided, a new hold is a new review


def test_holds_of_free_form_messages_are_audited_without_text() -> None:
    workspace = make_workspace()
    held(workspace.pk)
    decision = AuditEvent.objects.get(action="policy.decision")
    assert decision.details["subject"] == "message" and decision.details["action"] == "hold"
    assert AuditEvent.objects.get(action="policy.held").details == {
        "kind": "message",
        "ref_id": 7,
        "category": "illegal",
    }
    assert not any("vapes" in str(event.details) for event in AuditEvent.objects.all())
