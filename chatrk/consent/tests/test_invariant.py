"""The consent invariant, checked by a Hypothesis state machine over the real actions and the real gate:
never a send after a revocation (until a resubscribe), never a marketing send without active consent —
including replies the content policy held, then a compliance officer released after the customer opted
out (the release fails them, and the sender refuses any released row a later STOP caught)."""

from __future__ import annotations

from itertools import count

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from chatrk.audit.actions import Actor
from chatrk.consent import actions
from chatrk.consent.gate import check_consent
from chatrk.consent.models import Source
from chatrk.consent.tests.helpers import wording
from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.outbound.actions import consent_refusals, do_enqueue
from chatrk.outbound.errors import SendRefused
from chatrk.outbound.models import OutboxItem
from chatrk.outbound.tests.conftest import make_world
from chatrk.policy.actions import Reviewer, reject, release
from chatrk.policy.models import HeldItem
from chatrk.whatsapp.messages import TextMessage

PURPOSES = ("marketing", "utility", "authentication")
OPT_OUT_WORDS = ("STOP", " stop ", "Unsubscribe", "OPT-OUT", "ARRÊT", "quit")
RESUBSCRIBE_WORDS = ("START", "unstop", "YES")
NUMBERS = count(1)
DOUBTFUL = "Our sale: https://bit.ly/abc"  # the content policy holds it for review


class ConsentMachine(RuleBasedStateMachine):
    """The model: per purpose, ``active``, ``pending``, ``revoked`` (with whether it was ever active), or
    nothing; and whether free-form replies are held by a keyword opt-out."""

    @initialize()
    def setup(self) -> None:
        self.world = make_world(f"7{next(NUMBERS):014d}")  # one number per example: the DB is not reset
        self.workspace = self.world.owner.workspace
        self.conversation = self.world.conversation(consent=False)
        self.contact = self.conversation.contact
        self.waiting: list[int] = []  # held replies in the review queue (outbox ids)
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

    @rule(review=st.sampled_from(["later", "release", "reject"]))
    def agent_reply_held_for_review(self, review: str) -> None:
        codes: set[str] = set()
        try:
            result = do_enqueue(self.world.by(), self.conversation, TextMessage(DOUBTFUL))
        except SendRefused as refused:  # a keyword opt-out refuses replies (the policy may also block)
            codes = {r.code for r in refused.decision.refusals}
        if codes:
            assert ("no_consent" in codes) == self.held
            return
        assert result.held and not self.held
        self.waiting.append(result.item.pk)
        if review != "later":
            self.compliance_decides(review == "release")

    @precondition(lambda self: bool(self.waiting))
    @rule(let_go=st.booleans())
    def compliance_decides(self, let_go: bool) -> None:
        item_id = self.waiting.pop(0)
        review = HeldItem.objects.get(workspace=self.workspace, ref_id=item_id)
        owner = self.world.owner
        reviewer = Reviewer(self.workspace.pk, owner.user_id, Role.OWNER, Actor.user(owner.user_id))
        (release if let_go else reject)(reviewer, review.pk)
        state = OutboxItem.objects.get(pk=item_id).state
        # Released after an opt-out: it fails at once and never reaches a sender.
        assert state == (OutboxItem.State.QUEUED if let_go and not self.held else OutboxItem.State.FAILED)

    @invariant()
    def no_reply_goes_out_after_an_opt_out(self) -> None:
        """What the sender would do with every due row right now: refuse each one an opt-out caught."""
        if not hasattr(self, "world"):
            return
        due = list(OutboxItem.objects.filter(workspace=self.workspace, state=OutboxItem.State.QUEUED))
        refused = consent_refusals(due)
        for row in due:
            assert (row.pk in refused) == self.held, (row.consent_purpose, refused, self.held)

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
