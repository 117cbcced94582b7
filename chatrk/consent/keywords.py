"""Classifying a customer's reply: a pure function, no database.

Only an exact single word counts as a keyword (after NFKC, trimming, and case folding), so "stop" and
" STOP! " revoke but "please stop the delivery" does not; free text that *sounds* like an opt-out goes
to an agent for review, because the FCC's "any reasonable manner" rule makes it count if a person
would read it that way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Twilio's defaults, AWS's additions, and the issue's list (STANDARDS.md §6).
OPT_OUT_KEYWORDS = frozenset(
    {
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "OPT-OUT",
        "ARRET",
    }
)
RESUBSCRIBE_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
# Two-word forms the FCC names as binding (47 CFR 64.1200(a)(10)); matched exactly, like a keyword.
OPT_OUT_PHRASES = frozenset({"OPT OUT", "STOP ALL"})

# Per-language lists a workspace can switch on (and extend with its own words in ConsentSettings).
LANGUAGE_OPT_OUT: dict[str, frozenset[str]] = {
    "es": frozenset({"ALTO", "BAJA", "PARAR", "DETENER", "CANCELAR"}),
    "pt": frozenset({"PARAR", "SAIR", "CANCELAR", "DESCADASTRAR"}),
    "fr": frozenset({"ARRET", "ARRETER", "STOPPER", "DESINSCRIRE"}),
    "de": frozenset({"STOPP", "ABMELDEN", "BEENDEN"}),
    "it": frozenset({"BASTA", "ANNULLA", "DISISCRIVI"}),
}
LANGUAGE_RESUBSCRIBE: dict[str, frozenset[str]] = {
    "es": frozenset({"SI", "ALTA"}),
    "pt": frozenset({"SIM"}),
    "fr": frozenset({"OUI"}),
    "de": frozenset({"JA"}),
    "it": frozenset({"SI"}),
}

# Quick-reply payloads our own templates carry (and common ones of other tools).
UNSUBSCRIBE_PAYLOADS = frozenset({"UNSUBSCRIBE", "STOP", "OPT_OUT", "OPTOUT", "CHATRK_UNSUBSCRIBE"})
CONFIRM_PAYLOADS = frozenset({"YES", "CHATRK_CONSENT_YES", "CONSENT_YES", "SUBSCRIBE"})

# Phrases that suggest an opt-out in free text; matched on whole words, in any longer message.
_REVIEW_PATTERNS = re.compile(
    r"\b(stop|unsubscribe|opt[\s-]?out|remove me|don'?t (text|message|contact)|do not (text|message|contact)"
    r"|no more (messages|texts)|leave me alone|take me off|delete my (number|data))\b",
    re.IGNORECASE,
)
_TRIM = " \t\r\n\u200b\u200c\u200d\ufeff.!?¡¿,;:'\"()[]*_~-"


@dataclass(frozen=True, slots=True)
class Revoke:
    keyword: str


@dataclass(frozen=True, slots=True)
class Resubscribe:
    keyword: str


@dataclass(frozen=True, slots=True)
class NeedsReview:
    """Free text that may be an opt-out: an agent decides."""


type Classification = Revoke | Resubscribe | NeedsReview | None


def normalise(text: str) -> str:
    """NFKC, accents removed (ARRÊT is ARRET), trimmed of spaces and punctuation, upper case."""
    if text.isascii():  # most replies: NFKC, NFD and NFC leave ASCII as it is, and nothing combines
        return " ".join(text.strip(_TRIM).upper().split())
    folded = unicodedata.normalize("NFKC", text).strip(_TRIM)
    decomposed = unicodedata.normalize("NFD", folded)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(unicodedata.normalize("NFC", plain).upper().split())


def normalise_keywords(words: Iterable[str]) -> frozenset[str]:
    return frozenset(n for n in (normalise(w) for w in words) if n and " " not in n)


def classify_reply(
    text: str,
    extra_opt_out: Iterable[str] = (),
    extra_resubscribe: Iterable[str] = (),
) -> Classification:
    """What a customer's text reply means for consent.

    ``Revoke``: an exact single opt-out word (built-in or the workspace's own). ``Resubscribe``: an
    exact START / UNSTOP / YES (or the workspace's own). ``NeedsReview``: longer text that looks like an
    opt-out. ``None``: an ordinary message.
    """
    if not text:
        return None
    word = normalise(text)
    if not word:
        return None
    if word in OPT_OUT_PHRASES:
        return Revoke(word)
    if " " not in word:
        if word in OPT_OUT_KEYWORDS or word in normalise_keywords(extra_opt_out):
            return Revoke(word)
        if word in RESUBSCRIBE_KEYWORDS or word in normalise_keywords(extra_resubscribe):
            return Resubscribe(word)
    if _REVIEW_PATTERNS.search(unicodedata.normalize("NFKC", text)):
        return NeedsReview()
    return None


def classify_payload(payload: str) -> Classification:
    """A quick-reply button's payload (template ``button`` or interactive ``button_reply`` id)."""
    word = normalise(payload)
    if word in UNSUBSCRIBE_PAYLOADS:
        return Revoke(word)
    if word in CONFIRM_PAYLOADS:
        return Resubscribe(word)
    return None


def language_keywords(languages: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """The opt-out and resubscribe words for the given language codes."""
    out: set[str] = set()
    back: set[str] = set()
    for code in languages:
        out |= LANGUAGE_OPT_OUT.get(code, frozenset())
        back |= LANGUAGE_RESUBSCRIBE.get(code, frozenset())
    return frozenset(out), frozenset(back)
