"""The pure engine: normalisation, identifiers, rules, links, spam signals, tuning, evidence."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatrk.policy.engine import (
    DEFAULT_TUNING,
    Action,
    Category,
    ExtraTerm,
    PolicyContext,
    Tuning,
    check_text,
    compiled,
)
from chatrk.policy.identifiers import cpf_ok, dni_ok, find_identifiers, luhn_ok
from chatrk.policy.normalise import normalise


@pytest.mark.parametrize(
    ("text", "letters"),
    [
        ("V1AGRA", "viagra"),
        ("v i a g r a", "viagra"),
        ("\u0441\u043e\u0441\u0430\u0456n\u0435", "cocaine"),  # Cyrillic look-alikes
        ("c\u200bo\u200bcaine", "cocaine"),  # zero-width characters
        ("\uff23\uff4f\uff43\uff41\uff49\uff4e\uff45", "cocaine"),  # full-width forms
        ("Contraseña", "contrasena"),
        ("Order 12345 ships now!!!", "order 12345 ships now!!!"),
    ],
)
def test_normalisation_undoes_obfuscation(text: str, letters: str) -> None:
    assert normalise(text).letters == letters


def test_offsets_point_into_the_original_text() -> None:
    text = "Hello there. Buy  C0CAINE here"
    decision = check_text(text)
    assert decision.action is Action.BLOCK and decision.category is Category.ILLEGAL
    span = decision.evidence[0]
    assert text[span.start : span.end] == "C0CAINE"


def test_luhn_cpf_and_dni_checks() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert cpf_ok("52998224725") and not cpf_ok("52998224724") and not cpf_ok("11111111111")
    assert dni_ok("", "12345678", "z") and not dni_ok("", "12345678", "a")
    assert dni_ok("x", "1234567", "l")


def test_a_card_number_blocks_and_evidence_masks_it() -> None:
    decision = check_text("Your card 4111-1111-1111-1111 is on file")
    assert decision.action is Action.BLOCK and decision.category is Category.SENSITIVE_IDS
    assert decision.evidence[0].note == "card ending 1111"
    assert "4111" not in repr(decision.as_dict())


def test_numbers_that_fail_their_checksum_are_not_identifiers() -> None:
    assert list(find_identifiers("order 4111 1111 1111 1112 and cpf 529.982.247-24 and 12345678a")) == []
    # 9000… passes Luhn but no card issuer range starts with 9; 4000…235 fails Luhn.
    assert check_text("Tracking 1Z999AA10123456784, order 9000123412341233").action is Action.ALLOW
    assert check_text("Order 4000 1234 1234 1235 confirmed").action is Action.ALLOW


@pytest.mark.parametrize(
    "text",
    [
        "Your verification code is 482913. Never share it with anyone.",
        "Tu código es 309124. No lo compartas con nadie.",
        "Ihr Code lautet 730215. Geben Sie ihn niemals weiter.",
        "We will never ask for your password or PIN.",
        "Paid with the card ending 4242. Thanks!",
    ],
)
def test_authentication_messages_are_allowed(text: str) -> None:
    assert check_text(text).action is Action.ALLOW


@pytest.mark.parametrize(
    "text",
    [
        "Please send us your password to fix the account",
        "Envíanos tu contraseña para verificar",
        "Me envie a senha do banco",
        "Envoyez-moi votre mot de passe",
        "Senden Sie uns Ihr Passwort",
    ],
)
def test_password_requests_block_in_every_language(text: str) -> None:
    decision = check_text(text)
    assert (decision.action, decision.category) == (Action.BLOCK, Category.SENSITIVE_IDS)
    assert "password" in decision.explanation or "contraseña" in decision.explanation or decision.explanation


def test_explanations_name_the_category_and_the_reason() -> None:
    decision = check_text("Buy Xanax online, no prescription needed")
    assert decision.explanation.startswith("Illegal or restricted goods and services: blocked.")
    assert "Prescription drugs" in decision.explanation


def test_links_shorteners_hold_and_blocklisted_domains_block() -> None:
    assert check_text("Our sale: https://bit.ly/abc").action is Action.HOLD
    blocked = check_text("Claim at https://www.grabify.link/x")
    assert (blocked.action, blocked.category) == (Action.BLOCK, Category.SCAM)
    assert check_text("See https://shop.acme.example/sale and www.acme.example").action is Action.ALLOW


def test_allow_listed_domains_lift_only_spam_signals() -> None:
    tuning = Tuning(allowed_domains=frozenset({"bit.ly", "grabify.link"}))
    context = PolicyContext(tuning=tuning)
    assert check_text("Our sale: https://bit.ly/abc", context=context).action is Action.ALLOW
    assert check_text("Claim at https://grabify.link/x", context=context).action is Action.BLOCK


def test_shouting_and_link_density_are_spam_signals() -> None:
    shouting = check_text("HUGE SALE TODAY ONLY!!! EVERYTHING MUST GO!!! CALL NOW!!!")
    assert (shouting.action, shouting.category) == (Action.HOLD, Category.SPAM)
    links = " ".join(f"https://s{i}.example/x" for i in range(6))
    assert check_text(f"Offers: {links}").action is Action.HOLD


def test_the_same_body_to_many_people_and_velocity_hold_free_form_messages_only() -> None:
    text = "Hi, our shop is open on Sunday."
    assert check_text(text, context=PolicyContext(same_body_recipients=21)).action is Action.HOLD
    assert check_text(text, context=PolicyContext(same_body_recipients=20)).action is Action.ALLOW
    assert check_text(text, context=PolicyContext(hourly_volume=1_001)).action is Action.HOLD
    campaign = PolicyContext(same_body_recipients=5_000, hourly_volume=9_000, campaign=True)
    assert check_text(text, context=campaign).action is Action.ALLOW


def test_workspace_terms_and_lower_thresholds_make_the_policy_stricter() -> None:
    terms = (
        ExtraTerm("airdrop", Category.SCAM, Action.BLOCK),
        ExtraTerm("raffle", Category.SPAM, Action.HOLD),
    )
    context = PolicyContext(tuning=Tuning(extra_terms=terms))
    assert check_text("Join the AIRDROP", context=context).action is Action.BLOCK
    assert check_text("Enter our raffle", context=context).action is Action.HOLD
    assert check_text("Enter our raffle").action is Action.ALLOW
    # Regulated goods (50 points) hold by default; a workspace may choose to block them.
    text = "Whisky offer: 3 bottles for the price of 2"
    assert check_text(text).action is Action.HOLD
    stricter = Tuning(block_at=MappingProxyType({**DEFAULT_TUNING.block_at, Category.ILLEGAL: 50}))
    assert check_text(text, context=PolicyContext(tuning=stricter)).action is Action.BLOCK


def test_every_pack_rule_compiles_and_every_block_category_has_rules_in_every_language() -> None:
    rules = compiled().rules
    for language in ("en", "es", "pt", "fr", "de"):
        covered = {r.category for r in rules if r.id.startswith(f"{language}.") and r.weight > 0}
        missing = {c for c in Category if c is not Category.NONE} - covered
        assert not missing, f"{language} lacks {missing}"
    assert len({r.id for r in rules}) == len(rules), "rule ids are unique"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gets_a_decision_with_offsets_inside_it(text: str) -> None:
    decision = check_text(text)
    for evidence in decision.evidence:
        assert 0 <= evidence.start <= evidence.end <= len(text)


def test_anchoring_rules_to_word_starts_changes_no_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from chatrk.policy import engine
    from chatrk.policy.evaluate import labelled

    texts = [row["text"] for row in labelled()]
    anchored = [check_text(text) for text in texts]
    assert sum(p.anchors is not None for p in compiled().patterns) > 0.8 * len(compiled().patterns)
    plain = replace(compiled(), patterns=tuple(replace(p, anchors=None) for p in compiled().patterns))
    monkeypatch.setattr(engine, "compiled", lambda: plain)
    assert [check_text(text) for text in texts] == anchored
