"""The content-policy engine: a pure function from a message and its context to a decision.

``check_text`` never touches the database. Everything stateful (how many people got the same body,
the workspace's sending rate, its tuning) arrives in ``PolicyContext``; ``chatrk.policy.actions``
builds that context and is what the rest of Chatrk calls.

Scoring: every rule that matches adds its weight to its category once; identifiers, links and spam
signals add points too. A category whose score reaches its block threshold blocks, its hold threshold
holds. The most severe category decides, and its strongest rule writes the explanation.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from chatrk.policy.identifiers import find_identifiers
from chatrk.policy.normalise import Normalised, normalise


class Action(StrEnum):
    ALLOW = "allow"
    HOLD = "hold"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Action.ALLOW: 0, Action.HOLD: 1, Action.BLOCK: 2}


class Category(StrEnum):
    NONE = "none"
    SPAM = "spam"
    SCAM = "scam"
    HATE = "hate"
    ILLEGAL = "illegal"
    VIOLENCE = "violence"
    ADULT = "adult"
    SENSITIVE_IDS = "sensitive_ids"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Category.NONE: "No concern",
    Category.SPAM: "Spam",
    Category.SCAM: "Misinformation and scams",
    Category.HATE: "Hate speech",
    Category.ILLEGAL: "Illegal or restricted goods and services",
    Category.VIOLENCE: "Violence and threats",
    Category.ADULT: "Adult content",
    Category.SENSITIVE_IDS: "Requests for sensitive identifiers",
}

# Categories that block: a workspace can make them stricter, never let them through.
BLOCK_CATEGORIES = frozenset(
    {
        Category.SCAM,
        Category.HATE,
        Category.ILLEGAL,
        Category.VIOLENCE,
        Category.ADULT,
        Category.SENSITIVE_IDS,
    }
)
HOLD_POINTS = 50
BLOCK_POINTS = 100
SPAM_BLOCK_POINTS = 1_000  # spam is held for a person to judge, unless a workspace chooses to block it


@dataclass(frozen=True, slots=True)
class ExtraTerm:
    """A workspace's own keyword or phrase (matched as whole words on normalised text)."""

    term: str
    category: Category
    action: Action  # HOLD or BLOCK


def _default_hold() -> Mapping[Category, int]:
    return MappingProxyType({c: HOLD_POINTS for c in Category if c is not Category.NONE})


def _default_block() -> Mapping[Category, int]:
    values = dict.fromkeys(BLOCK_CATEGORIES, BLOCK_POINTS) | {Category.SPAM: SPAM_BLOCK_POINTS}
    return MappingProxyType(values)


@dataclass(frozen=True, slots=True)
class Tuning:
    """A workspace's thresholds and lists. Defaults are also floors: see ``chatrk.policy.tuning``."""

    hold_at: Mapping[Category, int] = field(default_factory=_default_hold)
    block_at: Mapping[Category, int] = field(default_factory=_default_block)
    extra_terms: tuple[ExtraTerm, ...] = ()
    blocked_domains: frozenset[str] = frozenset()
    allowed_domains: frozenset[str] = frozenset()
    same_body_limit: int = 20  # free-form messages with one body to more recipients than this (24 h)
    hourly_limit: int = 1_000  # free-form messages per workspace per hour
    max_links: int = 3


DEFAULT_TUNING = Tuning()


@dataclass(frozen=True, slots=True)
class PolicyContext:
    tuning: Tuning = DEFAULT_TUNING
    same_body_recipients: int = (
        1  # recipients of this normalised body in the last 24 hours, this one included
    )
    hourly_volume: int = 0  # free-form messages this workspace sent in the current hour
    campaign: bool = False  # an approved template to an opted-in audience: volume is expected
    template: bool = False  # checking a template's text at creation: no volume signals


@dataclass(frozen=True, slots=True)
class Evidence:
    rule: str  # rule id, e.g. "en.illegal.drugs" or "signal.same_body"
    start: int  # offsets in the original text; (0, 0) for signals that are not a span
    end: int
    note: str = ""  # masked detail, never personal data in clear (e.g. "card ending 4242")

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "start": self.start, "end": self.end, "note": self.note}


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    action: Action
    category: Category
    score: int
    evidence: tuple[Evidence, ...]
    explanation: str

    @property
    def allowed(self) -> bool:
        return self.action is Action.ALLOW

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "category": self.category.value,
            "score": self.score,
            "evidence": [e.as_dict() for e in self.evidence],
            "explanation": self.explanation,
        }


ALLOWED = "No policy concern was found."


# --- rule packs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: Category
    weight: int
    explain: str
    each: bool = False  # every distinct matched phrase counts, not just the rule once


@dataclass(frozen=True, slots=True)
class _Pattern:
    rule: Rule
    regex: re.Pattern[str]
    # Words (first four letters) one of which must start a word of the text where a match begins;
    # None when they cannot be worked out, and the rule scans the whole text. Only a speed-up: the
    # rule is tried at those word starts instead of at every character.
    anchors: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    rules: tuple[Rule, ...]
    patterns: tuple[_Pattern, ...]
    shorteners: frozenset[str]
    blocklist: frozenset[str]
    risky_tlds: frozenset[str]


PACK_LANGUAGES = ("en", "es", "pt", "fr", "de")


@cache
def compiled() -> _Compiled:
    """Reads and compiles the rule packs once per process."""
    packs = resources.files("chatrk.policy") / "packs"
    patterns: list[_Pattern] = []
    for language in PACK_LANGUAGES:
        data = tomllib.loads((packs / f"{language}.toml").read_text("utf-8"))
        for raw in data["rules"]:
            rule = Rule(raw["id"], Category(raw["category"]), int(raw["weight"]), raw["explain"],
                        bool(raw.get("each", False)))  # fmt: skip
            patterns.append(_Pattern(rule, re.compile(raw["pattern"]), anchors_of(raw["pattern"])))
    links = tomllib.loads((packs / "links.toml").read_text("utf-8"))
    return _Compiled(
        rules=tuple(p.rule for p in patterns),
        patterns=tuple(patterns),
        shorteners=frozenset(links["shorteners"]),
        blocklist=frozenset(links["blocklist"]),
        risky_tlds=frozenset(links["risky_tlds"]),
    )


ANCHOR_LENGTH = 4
_WORD = re.compile(r"\w+")


def anchors_of(pattern: str) -> frozenset[str] | None:
    """The words a match must start with (cut to ``ANCHOR_LENGTH``), read from the parsed pattern.

    Uses the standard library's regular-expression parser; anything it cannot read with certainty
    (a pattern starting with a class, a repeat, a look-around…) gives None, so the rule always runs.
    """
    try:
        parser: Any = importlib.import_module("re._parser")
        constants: Any = importlib.import_module("re._constants")
        found = _leading_literals(list(parser.parse(pattern)), constants, bounded=False)
    except Exception:  # the private parser changed: lose the speed-up, never a match
        return None
    if not found:
        return None
    anchors = set()
    for literal in found:
        word = _WORD.match(literal)
        if word is None or word.start() != 0:
            return None
        anchors.add(word.group()[:ANCHOR_LENGTH])
    return frozenset(anchors)


def _leading_literals(items: list[Any], c: Any, *, bounded: bool) -> set[str] | None:
    """Literals every match starts with, if each is preceded by ``\\b`` (so a match starts a word)."""
    for index, (op, value) in enumerate(items):
        if op is c.AT:
            bounded = bounded or value is c.AT_BOUNDARY
            continue
        if op is c.LITERAL:
            if not bounded:
                return None
            text = ""
            for next_op, next_value in items[index:]:
                if next_op is not c.LITERAL:
                    break
                text += chr(next_value)
            return {text}
        if op is c.SUBPATTERN:
            return _leading_literals(list(value[-1]), c, bounded=bounded)
        if op is c.BRANCH:
            result: set[str] = set()
            for branch in value[1]:
                found = _leading_literals(list(branch), c, bounded=bounded)
                if found is None:
                    return None
                result |= found
            return result
        return None
    return None


@cache
def _extra_pattern(terms: tuple[ExtraTerm, ...]) -> re.Pattern[str] | None:
    if not terms:
        return None
    parts = [rf"(?P<x{i}>(?<!\w){re.escape(normalise(t.term).letters)}(?!\w))" for i, t in enumerate(terms)]
    return re.compile("|".join(parts))


# --- the check -------------------------------------------------------------------------------------

_URL = re.compile(
    r"(?:https?://)?(?:www\.)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,24}))(?![\w.-]*@)(?:[/?#:]\S*)?"
)
_URL_HINT = re.compile(r"https?://|www\.|\.[a-z]{2,24}(?:/|\b)")
_NOT_TLD = frozenset(
    {"m", "am", "pm", "mr", "mrs", "dr", "st", "ie", "eg", "etc", "vs", "no", "nr", "ca", "approx"}
)


class _Tally:
    __slots__ = ("evidence", "explain", "score")

    def __init__(self) -> None:
        self.score: dict[Category, int] = {}
        self.explain: dict[Category, tuple[int, str]] = {}
        self.evidence: list[tuple[Category, Evidence]] = []

    def add(self, category: Category, weight: int, evidence: Evidence, explain: str = "") -> None:
        self.score[category] = self.score.get(category, 0) + weight
        if weight > 0:
            self.evidence.append((category, evidence))
            if explain and weight > self.explain.get(category, (0, ""))[0]:
                self.explain[category] = (weight, explain)


def check_text(text: str, *, context: PolicyContext = PolicyContext()) -> PolicyDecision:
    """Decides what may happen to ``text``: allow, hold for review, or block; with the evidence."""
    rules = compiled()
    norm = normalise(text)
    tally = _Tally()
    tuning = context.tuning
    starts: dict[str, list[int]] = {}
    for word in _WORD.finditer(norm.letters):
        for n in range(1, min(ANCHOR_LENGTH, word.end() - word.start()) + 1):
            starts.setdefault(word.group()[:n], []).append(word.start())
    for pattern in rules.patterns:
        rule = pattern.rule
        seen: set[str] = set()
        for match in _matches(pattern, norm.letters, starts):
            key = match.group() if rule.each else ""
            if key in seen:
                continue
            seen.add(key)
            start, end = norm.span("letters", match.start(), match.end())
            tally.add(rule.category, rule.weight, Evidence(rule.id, start, end), rule.explain)
            if not rule.each:
                break
    for category in list(tally.score):  # reassuring wording cannot take a score below zero
        tally.score[category] = max(0, tally.score[category])
    _identifiers(norm, tally)
    _links(norm, tuning, rules, tally)
    _extra_terms(norm, tuning, tally)
    _spam_signals(text, context, tally)
    return _decide(tally, tuning)


def _matches(pattern: _Pattern, text: str, starts: Mapping[str, list[int]]) -> Iterator[re.Match[str]]:
    if pattern.anchors is None:
        yield from pattern.regex.finditer(text)
        return
    positions = sorted({p for anchor in pattern.anchors for p in starts.get(anchor, ())})
    end = -1
    for position in positions:
        if position < end:
            continue  # inside the previous match, as finditer would skip it
        match = pattern.regex.match(text, position)
        if match:
            end = match.end()
            yield match


def _identifiers(norm: Normalised, tally: _Tally) -> None:
    for found in find_identifiers(norm.plain):
        start, end = norm.span("plain", found.start, found.end)
        explain = (
            "The message contains a full payment card number. Never send or ask for full card numbers on "
            "WhatsApp; the last four digits are enough."
            if found.kind == "card"
            else "The message contains a national identity number. WhatsApp forbids sending or requesting "
            "national id numbers."
        )
        tally.add(
            Category.SENSITIVE_IDS,
            BLOCK_POINTS,
            Evidence(f"id.{found.kind}", start, end, found.masked),
            explain,
        )


def _domain_in(host: str, domains: frozenset[str]) -> str:
    parts = host.split(".")
    for i in range(len(parts) - 1):
        candidate = ".".join(parts[i:])
        if candidate in domains:
            return candidate
    return ""


def _links(norm: Normalised, tuning: Tuning, rules: _Compiled, tally: _Tally) -> None:
    if not _URL_HINT.search(norm.plain):
        return
    counted = 0
    for match in _URL.finditer(norm.plain):
        host, tld = match.group(1), match.group(2)
        if tld in _NOT_TLD or (
            not match.group().startswith(("http", "www")) and "/" not in match.group() and len(tld) > 6
        ):
            continue
        start, end = norm.span("plain", match.start(), match.end())
        blocked = _domain_in(host, rules.blocklist | tuning.blocked_domains)
        if blocked:
            explain = (
                "The message links to a blocklisted domain (known for phishing, fraud or prohibited goods)."
            )
            tally.add(Category.SCAM, BLOCK_POINTS, Evidence("link.blocklist", start, end, blocked), explain)
            continue
        if _domain_in(host, tuning.allowed_domains):
            continue
        counted += 1
        shortener = _domain_in(host, rules.shorteners)
        if shortener:
            explain = (
                "The message uses a link shortener, which hides where the link goes. Use your own full link "
                "or ask an admin to allow-list your branded short domain."
            )
            tally.add(Category.SPAM, HOLD_POINTS, Evidence("link.shortener", start, end, shortener), explain)
        elif tld in rules.risky_tlds:
            explain = "The message links to a domain ending often used by throw-away scam sites."
            tally.add(Category.SPAM, 30, Evidence("link.risky_tld", start, end, tld), explain)
    if counted > tuning.max_links:
        explain = f"The message has {counted} links; messages with many links look like spam."
        tally.add(
            Category.SPAM,
            25 * (counted - tuning.max_links) + 25,
            Evidence("signal.link_density", 0, 0),
            explain,
        )


def _extra_terms(norm: Normalised, tuning: Tuning, tally: _Tally) -> None:
    pattern = _extra_pattern(tuning.extra_terms)
    if pattern is None:
        return
    seen: set[int] = set()
    for match in pattern.finditer(norm.letters):
        index = int((match.lastgroup or "x0")[1:])
        if index in seen:
            continue
        seen.add(index)
        term = tuning.extra_terms[index]
        start, end = norm.span("letters", match.start(), match.end())
        weight = BLOCK_POINTS if term.action is Action.BLOCK else HOLD_POINTS
        explain = "The message uses a word or phrase your workspace's compliance team listed for review."
        tally.add(term.category, weight, Evidence(f"workspace.term.{index}", start, end), explain)


def _spam_signals(text: str, context: PolicyContext, tally: _Tally) -> None:
    tuning = context.tuning
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 20:
        upper = sum(c.isupper() for c in letters)
        if upper >= 0.7 * len(letters):
            explain = (
                "Most of the message is in capital letters, which reads as shouting and looks like spam."
            )
            tally.add(Category.SPAM, 30, Evidence("signal.shouting", 0, 0), explain)
    if text.count("!") >= 5 or "$$$" in text or "€€€" in text:
        explain = "Many exclamation marks or money symbols look like spam."
        tally.add(Category.SPAM, 20, Evidence("signal.punctuation", 0, 0), explain)
    if context.template or context.campaign:
        return
    if context.same_body_recipients > tuning.same_body_limit:
        explain = (
            f"The same free-form text went to {context.same_body_recipients} people in 24 hours. "
            "Bulk messages must be sent as an approved template in a campaign to people who opted in."
        )
        tally.add(Category.SPAM, HOLD_POINTS, Evidence("signal.same_body", 0, 0), explain)
    if context.hourly_volume > tuning.hourly_limit:
        explain = "This workspace is sending free-form messages unusually fast; a reviewer must confirm."
        tally.add(Category.SPAM, HOLD_POINTS, Evidence("signal.velocity", 0, 0), explain)


# On a tie, the graver category explains the decision: spam comes last.
_ORDER = (*(c for c in Category if c not in {Category.NONE, Category.SPAM}), Category.SPAM)


def _decide(tally: _Tally, tuning: Tuning) -> PolicyDecision:
    best: tuple[int, int, int] = (0, 0, 0)
    chosen = Category.NONE
    action = Action.ALLOW
    for rank, category in enumerate(_ORDER):
        score = tally.score.get(category, 0)
        if score <= 0:
            continue
        if score >= tuning.block_at.get(category, BLOCK_POINTS):
            verdict = Action.BLOCK
        elif score >= tuning.hold_at.get(category, HOLD_POINTS):
            verdict = Action.HOLD
        else:
            continue
        key = (verdict.severity, score, -rank)
        if key > best:
            best, chosen, action = key, category, verdict
    evidence = tuple(sorted((e for c, e in tally.evidence), key=lambda e: (e.start, e.rule)))
    if action is Action.ALLOW:
        return PolicyDecision(Action.ALLOW, Category.NONE, 0, evidence, ALLOWED)
    first = tuple(e for c, e in tally.evidence if c is chosen)
    rest = tuple(e for e in evidence if e not in first)
    verb = "blocked" if action is Action.BLOCK else "held for review"
    explanation = f"{chosen.label}: {verb}. {tally.explain.get(chosen, (0, ''))[1]}".strip()
    return PolicyDecision(action, chosen, tally.score[chosen], first + rest, explanation)
