from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatrk.consent.keywords import (
    _TRIM,
    OPT_OUT_KEYWORDS,
    NeedsReview,
    Resubscribe,
    Revoke,
    classify_payload,
    classify_reply,
    language_keywords,
    normalise,
)


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        " Stop ",
        "STOP!",
        "\uff53\uff54\uff4f\uff50",
        "unsubscribe",
        "Cancel",
        "end",
        "QUIT",
        "revoke",
        "optout",
        "opt-out",
        "Opt-Out",
        "ARRÊT",
        "arret",
        "stopall",
        "STOP.",
        "\u200bSTOP",
        "opt out",
    ],
)
def test_opt_out_keywords_after_nfkc_and_trimming(text: str) -> None:
    assert isinstance(classify_reply(text), Revoke)


@pytest.mark.parametrize("text", ["START", "unstop", "Yes", "yes!"])
def test_resubscribe_keywords(text: str) -> None:
    assert isinstance(classify_reply(text), Resubscribe)


@pytest.mark.parametrize(
    "text",
    [
        "stop texting me",
        "Please STOP",
        "unsubscribe me please",
        "remove me from your list",
        "don't message me again",
    ],
)
def test_free_text_opt_outs_go_to_review(text: str) -> None:
    assert classify_reply(text) == NeedsReview()


@pytest.mark.parametrize(
    "text", ["", "hello", "where is my order?", "stopover in Paris", "weekend", "yesterday"]
)
def test_ordinary_messages(text: str) -> None:
    assert classify_reply(text) is None


def test_workspace_and_language_keywords() -> None:
    out, back = language_keywords(["es"])
    assert classify_reply("alto", out, back) == Revoke("ALTO")
    assert classify_reply("Sí", out, back) == Resubscribe("SI")
    assert classify_reply("alto") is None
    assert classify_reply("nope", ["NOPE"]) == Revoke("NOPE")


def test_payloads() -> None:
    assert classify_payload("UNSUBSCRIBE") == Revoke("UNSUBSCRIBE")
    assert classify_payload("chatrk_consent_yes") == Resubscribe("CHATRK_CONSENT_YES")
    assert classify_payload("ORDER_STATUS") is None


@given(st.sampled_from(sorted(OPT_OUT_KEYWORDS)), st.sampled_from(["", " ", "\t", "\n", "!", "."]))
def test_every_keyword_with_any_case_and_padding(word: str, pad: str) -> None:
    assert isinstance(classify_reply(pad + word.lower() + pad), Revoke)


@given(st.text(max_size=40))
def test_classify_never_crashes(text: str) -> None:
    classify_reply(text)
    classify_payload(text)


def _normalise_in_full(text: str) -> str:
    """The Unicode path of normalise(), which ASCII text skips."""
    folded = unicodedata.normalize("NFKC", text).strip(_TRIM)
    decomposed = unicodedata.normalize("NFD", folded)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(unicodedata.normalize("NFC", plain).upper().split())


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_shortcut_normalises_like_the_unicode_path(text: str) -> None:
    assert normalise(text) == _normalise_in_full(text)
