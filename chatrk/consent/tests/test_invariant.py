"""The consent invariant, checked by a Hypothesis state machine over the real actions and the real gate:
never a send after a revocation (until a resubscribe), never a marketing send without active consent."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from chatrk.consent import actions
from chatrk.consent.gate import check_consent
from chatrk.consent.models import Source
from chatrk.consent.tests.helpers import contact, wording
from chatrk.core.clock import now
from chatrk.testing import make_workspace

PURPOSES = ("marketing", "utility", "authentication")
OPT_OUT_WORDS = ("STOP", " stop ", "Unsubscribe", "OPT-OUT", "ARRÊT", "quit")
RESUBSCRIBE_WORDS = ("START", "unstop", "YES")


class ConsentMachine(RuleBasedStateMachine):
    """The model: per purpose, ``active``, ``pending``, ``revoked`` (with whether it was ever active), or
    nothing; and whether free-form replies are held by a keyword opt-out."""

    @initialize()
    def setup(self) -> None:
        self.workspace = make_workspace()
        self.contact = contact(self.workspace)
        self.wording = wording(self.workspace)
        self.model: dict[str, str] = dict.fromkeys(PURPOSES, "none")
        self.ever_active: dict[str, bool] = dict.fromkeys(PURPOSES, False)
        self.held = False
        self.asked = False  # a confirmation template went out and is unanswered
        self.unsent = False  # a confirmation template is owed
        self.serial = 0

    def _wamid(self) -> str:
        self.serial += 1
        return f"wamid.{self.serial}"

    def _activate(self, purpose: str) -> None:
        self.model[purpose] = "active"
        self.ever_active[purpose] = True

    @rule(purposes=st.sets(st.sampled_from(PURPOSES), min_size=1), double=st.booleans())
    def grant(self, purposes: set[str], double: bool) -> None:
        from chatrk.audit.actions import Actor

        proof = actions.Proof(
            source=Source.WEB_FORM if double else Source.IN_THREAD,
            captured_by=Actor("user", "1"),
            wording_id=self.wording.pk,
        )
        actions.record_consent(
            self.workspace.pk, self.contact.pk, sorted(purposes), proof, double_opt_in=double
        )
        if double and any(self.model[p] != "active" for p in purposes):
            self.unsent = True
        for purpose in purposes:
            if not double:
                self._activate(purpose)
            elif self.model[purpose] != "active":
                self.model[purpose] = "pending"

    @rule()
    def confirmation_template_sent(self) -> None:
        for due in actions.claim_double_opt_ins(self.workspace.pk):
            actions.mark_double_opt_in_sent(self.workspace.pk, due.change_id, wamid=self._wamid())
        if self.unsent:
            self.asked, self.unsent = True, False

    @rule(word=st.sampled_from(OPT_OUT_WORDS), payload=st.booleans())
    def keyword_stop(self, word: str, payload: bool) -> None:
        actions.apply_inbound_reply(
            self.workspace.pk,
            self.contact.pk,
            wamid=self._wamid(),
            received_at=now(),
            text=None if payload else word,
            button_payload="UNSUBSCRIBE" if payload else None,
        )
        self.model = dict.fromkeys(PURPOSES, "revoked")
        self.held = True

    @rule()
    def meta_preference_stop(self) -> None:
        actions.apply_user_preference(self.workspace.pk, self.contact.pk, value="stop", occurred_at=now())
        self.model["marketing"] = "revoked"

    @rule()
    def send_error_131050(self) -> None:
        actions.apply_send_error_131050(self.workspace.pk, self.contact.pk, wamid=self._wamid())
        self.model["marketing"] = "revoked"

    @rule()
    def meta_preference_resume(self) -> None:
        actions.apply_user_preference(self.workspace.pk, self.contact.pk, value="resume", occurred_at=now())
        if self.model["marketing"] == "revoked" and self.ever_active["marketing"]:
            self._activate("marketing")

    @rule(word=st.sampled_from(RESUBSCRIBE_WORDS))
    def resubscribe(self, word: str) -> None:
        actions.apply_inbound_reply(
            self.workspace.pk, self.contact.pk, wamid=self._wamid(), received_at=now(), text=word
        )
        confirming = self.asked and any(self.model[p] == "pending" for p in PURPOSES)
        for purpose in PURPOSES:
            if (self.model[purpose] == "pending" and confirming) or (
                self.model[purpose] == "revoked" and self.ever_active[purpose]
            ):
                self._activate(purpose)
        if confirming:  # every open request is answered, sent or not
            self.asked = self.unsent = False
        self.held = False

    @rule(text=st.sampled_from(["hello", "where is my order?", "stop texting me", "thanks!"]))
    def customer_writes(self, text: str) -> None:
        actions.apply_inbound_reply(
            self.workspace.pk, self.contact.pk, wamid=self._wamid(), received_at=now(), text=text
        )
        if text != "stop texting me":  # a possible opt-out (sent for review) keeps the hold
            self.held = False

    @rule(category=st.sampled_from([*PURPOSES, "service"]), window_open=st.booleans())
    def send(self, category: str, window_open: bool) -> None:
        decision = check_consent(self.workspace.pk, self.contact.pk, category, window_open=window_open)
        if category == "service":
            expected = window_open and not self.held
        else:
            expected = self.model[category] == "active"
        assert decision.allowed == expected, (category, decision, self.model, self.held)
        # The invariant itself, independent of the model's bookkeeping:
        if category in PURPOSES and decision.allowed:
            assert self.model[category] == "active"
        if category == "marketing":
            assert not decision.allowed or self.model["marketing"] not in {"none", "revoked", "pending"}

    @invariant()
    def cache_matches_events(self) -> None:
        if hasattr(self, "workspace") and self.serial % 5 == 0:
            assert actions.verify_states(self.workspace.pk) == []


@pytest.mark.django_db
def test_consent_invariant() -> None:
    runner = ConsentMachine.TestCase
    runner.settings = settings(
        max_examples=30,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    runner().runTest()
