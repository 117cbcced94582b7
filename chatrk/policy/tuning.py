"""Workspace tuning and its floors: a workspace can make the policy stricter, never looser.

* Thresholds (points at which a category holds or blocks) can only be *lowered* from the defaults.
  Block categories keep a block threshold of at most 100, so every rule written to block still blocks.
* Spam, held by default, may be made to block by lowering its block threshold.
* Extra terms add words that hold or block; blocked domains add to the built-in blocklist.
* Allowed domains only exempt links from the *spam* link signals (shortener, risky ending, link
  count); they never lift the blocklist and never touch any other rule.
* Volume limits (same body to many people, messages per hour, links per message) can only be lowered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from chatrk.policy.engine import DEFAULT_TUNING, Action, Category, ExtraTerm, Tuning
from chatrk.policy.errors import PolicyError

MIN_POINTS = 10  # below this a single weak signal would hold everything: refuse as a likely mistake
MAX_TERMS = 500
MAX_DOMAINS = 1_000
_DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}$")
TUNABLE = tuple(c for c in Category if c is not Category.NONE)


@dataclass(frozen=True, slots=True)
class TuningInput:
    """What a compliance officer submits; ``validate`` turns it into a ``Tuning`` or raises."""

    hold_at: Mapping[str, int]
    block_at: Mapping[str, int]
    extra_terms: Sequence[Mapping[str, str]]
    blocked_domains: Sequence[str]
    allowed_domains: Sequence[str]
    same_body_limit: int = DEFAULT_TUNING.same_body_limit
    hourly_limit: int = DEFAULT_TUNING.hourly_limit
    max_links: int = DEFAULT_TUNING.max_links


def validate(data: TuningInput) -> Tuning:
    hold = _thresholds(data.hold_at, DEFAULT_TUNING.hold_at, "hold_at")
    block = _thresholds(data.block_at, DEFAULT_TUNING.block_at, "block_at")
    for category in TUNABLE:
        if block[category] < hold[category]:
            raise PolicyError(f"{category.label}: the block threshold must be at least the hold threshold.",
                              field="block_at")  # fmt: skip
    return Tuning(
        hold_at=MappingProxyType(hold),
        block_at=MappingProxyType(block),
        extra_terms=_terms(data.extra_terms),
        blocked_domains=_domains(data.blocked_domains, "blocked_domains"),
        allowed_domains=_domains(data.allowed_domains, "allowed_domains"),
        same_body_limit=_limit(data.same_body_limit, DEFAULT_TUNING.same_body_limit, "same_body_limit"),
        hourly_limit=_limit(data.hourly_limit, DEFAULT_TUNING.hourly_limit, "hourly_limit"),
        max_links=_limit(data.max_links, DEFAULT_TUNING.max_links, "max_links", minimum=0),
    )


def _thresholds(given: Mapping[str, int], defaults: Mapping[Category, int], name: str) -> dict[Category, int]:
    result = dict(defaults)
    for key, value in given.items():
        try:
            category = Category(key)
        except ValueError:
            raise PolicyError(f"Unknown category {key[:40]!r}.", field=name) from None
        if category is Category.NONE or not isinstance(value, int) or isinstance(value, bool):
            raise PolicyError("Thresholds are whole numbers of points per category.", field=name)
        if value > defaults[category]:
            raise PolicyError(
                f"{category.label}: {value} is looser than the floor of {defaults[category]}; "
                "thresholds can only be lowered.",
                field=name,
            )
        if value < MIN_POINTS:
            raise PolicyError(f"{category.label}: thresholds start at {MIN_POINTS} points.", field=name)
        result[category] = value
    return result


def _terms(raw: Sequence[Mapping[str, str]]) -> tuple[ExtraTerm, ...]:
    if len(raw) > MAX_TERMS:
        raise PolicyError(f"At most {MAX_TERMS} extra terms.", field="extra_terms")
    terms: list[ExtraTerm] = []
    for item in raw:
        term = str(item.get("term", "")).strip()
        if not 2 <= len(term) <= 80:
            raise PolicyError("Each extra term has 2 to 80 characters.", field="extra_terms")
        try:
            category = Category(item.get("category", ""))
            action = Action(item.get("action", "hold"))
        except ValueError:
            raise PolicyError(
                "Each extra term names a category and hold or block.", field="extra_terms"
            ) from None
        if category is Category.NONE or action is Action.ALLOW:
            raise PolicyError(
                "Extra terms hold or block in a category; they cannot allow.", field="extra_terms"
            )
        terms.append(ExtraTerm(term, category, action))
    return tuple(terms)


def _domains(raw: Sequence[str], name: str) -> frozenset[str]:
    if len(raw) > MAX_DOMAINS:
        raise PolicyError(f"At most {MAX_DOMAINS} domains.", field=name)
    domains = set()
    for value in raw:
        domain = str(value).strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
        domain = domain.removeprefix("www.")
        if not _DOMAIN.match(domain):
            raise PolicyError(f"{domain[:60]!r} is not a domain name like example.com.", field=name)
        domains.add(domain)
    return frozenset(domains)


def _limit(value: int, default: int, name: str, *, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise PolicyError(
            f"{name.replace('_', ' ').capitalize()} must be a whole number ≥ {minimum}.", field=name
        )
    if value > default:
        raise PolicyError(
            f"{name.replace('_', ' ').capitalize()} can only be lowered (the floor is {default}).", field=name
        )
    return value


def as_stored(tuning: Tuning) -> dict[str, Any]:
    """The model fields for a validated tuning (only thresholds that differ from the defaults)."""
    return {
        "hold_at": {c.value: v for c, v in tuning.hold_at.items() if v != DEFAULT_TUNING.hold_at[c]},
        "block_at": {c.value: v for c, v in tuning.block_at.items() if v != DEFAULT_TUNING.block_at[c]},
        "extra_terms": [
            {"term": t.term, "category": t.category.value, "action": t.action.value}
            for t in tuning.extra_terms
        ],
        "blocked_domains": sorted(tuning.blocked_domains),
        "allowed_domains": sorted(tuning.allowed_domains),
        "same_body_limit": tuning.same_body_limit,
        "hourly_limit": tuning.hourly_limit,
        "max_links": tuning.max_links,
    }
