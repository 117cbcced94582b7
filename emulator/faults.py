"""Fault injection: per-endpoint probabilities or targeted rules (issue item 8)."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    HTTP_500 = "http_500"
    HTTP_503 = "http_503"
    HTTP_429 = "http_429"
    TIMEOUT = "timeout"
    SLOW = "slow"
    MALFORMED = "malformed"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    WRONG_SIGNATURE = "wrong_signature"
    UNKNOWN = "unknown"


API_FAULTS = frozenset(
    {
        FaultKind.HTTP_500,
        FaultKind.HTTP_503,
        FaultKind.HTTP_429,
        FaultKind.TIMEOUT,
        FaultKind.SLOW,
        FaultKind.MALFORMED,
    }
)
WEBHOOK_FAULTS = frozenset(
    {FaultKind.DUPLICATE, FaultKind.OUT_OF_ORDER, FaultKind.WRONG_SIGNATURE, FaultKind.SLOW}
)
ENDPOINTS = frozenset({"messages", "media", "templates", "graph", "any", "webhook"})


@dataclass(slots=True)
class FaultRule:
    id: int
    endpoint: str
    kind: FaultKind
    probability: float = 1.0
    remaining: int | None = None
    delay: float = 0.0
    to: str | None = None
    phone_number_id: str | None = None
    fired: int = 0

    def matches(self, endpoint: str, to: str | None, phone_number_id: str | None) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.endpoint == "webhook":
            if endpoint != "webhook":
                return False
        elif self.endpoint not in ("any", endpoint) and not (
            self.endpoint == "graph" and endpoint != "webhook"
        ):
            return False
        if self.to is not None and self.to != to:
            return False
        return self.phone_number_id is None or self.phone_number_id == phone_number_id

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = str(self.kind)
        return data


def rule_from_dict(rule_id: int, raw: dict[str, Any]) -> FaultRule:
    endpoint = str(raw.get("endpoint", "any"))
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {sorted(ENDPOINTS)}")
    try:
        kind = FaultKind(str(raw.get("kind", "")))
    except ValueError:
        raise ValueError(
            f"kind must be one of {[str(k) for k in FaultKind if k is not FaultKind.UNKNOWN]}"
        ) from None
    allowed = WEBHOOK_FAULTS if endpoint == "webhook" else API_FAULTS
    if kind not in allowed:
        raise ValueError(f"fault {kind} does not apply to endpoint {endpoint}")
    probability = float(raw.get("probability", 1.0))
    if not 0.0 <= probability <= 1.0:
        raise ValueError("probability must be between 0 and 1")
    remaining = raw.get("count")
    return FaultRule(
        id=rule_id,
        endpoint=endpoint,
        kind=kind,
        probability=probability,
        remaining=None if remaining is None else int(remaining),
        delay=float(raw.get("delay", 0.0)),
        to=raw.get("to"),
        phone_number_id=raw.get("phone_number_id"),
    )


class FaultEngine:
    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)  # noqa: S311 - deterministic test faults, not security
        self._rules: list[FaultRule] = []
        self._next_id = 1

    @property
    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def add(self, raw: dict[str, Any]) -> FaultRule:
        rule = rule_from_dict(self._next_id, raw)
        self._next_id += 1
        self._rules.append(rule)
        return rule

    def clear(self) -> None:
        self._rules.clear()

    def pick(
        self, endpoint: str, to: str | None = None, phone_number_id: str | None = None
    ) -> FaultRule | None:
        if not self._rules:
            return None
        for rule in self._rules:
            if rule.matches(endpoint, to, phone_number_id) and self._random.random() < rule.probability:
                rule.fired += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule
        return None
