"""Emulator configuration: business accounts, phone numbers and behaviour knobs.

Loaded from JSON or TOML (same structure); every field has a default so an empty file works.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any


class Throughput(StrEnum):
    STANDARD = "STANDARD"
    HIGH = "HIGH"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: str) -> Throughput:
        try:
            return cls(value.upper())
        except ValueError:
            return cls.UNKNOWN

    @property
    def messages_per_second(self) -> int:
        return 1000 if self is Throughput.HIGH else 80


class Quality(StrEnum):
    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: str) -> Quality:
        try:
            return cls(value.upper())
        except ValueError:
            return cls.UNKNOWN


# Business-initiated unique users per moving 24 h (REFERENCE §5); None = unlimited.
MESSAGING_TIERS: dict[str, int | None] = {
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_1K": 1000,
    "TIER_2K": 2000,
    "TIER_10K": 10_000,
    "TIER_100K": 100_000,
    "TIER_UNLIMITED": None,
}


@dataclass(frozen=True)
class PhoneNumberConfig:
    id: str
    display_phone_number: str
    verified_name: str = "Emulated Business"
    throughput: Throughput = Throughput.STANDARD
    quality: Quality = Quality.GREEN


@dataclass(frozen=True)
class AccountConfig:
    """One WhatsApp Business Account with its app credentials and webhook subscription."""

    waba_id: str
    phone_numbers: tuple[PhoneNumberConfig, ...]
    access_tokens: tuple[str, ...]
    app_secret: str
    callback_url: str | None = None
    verify_token: str = "emulator-verify-token"  # noqa: S105 - a documented test default, not a secret
    business_id: str = ""
    messaging_tier: str = "TIER_UNLIMITED"
    template_limit: int = 250

    @property
    def portfolio_id(self) -> str:
        return self.business_id or self.waba_id


@dataclass(frozen=True)
class BehaviourConfig:
    """Timings are emulated seconds (see `Clock`)."""

    time_scale: float = 1.0
    seed: int = 0
    # Emulated unix seconds at start-up; 0 starts at the wall clock's time. Pinned, with a frozen clock,
    # a seed replays byte for byte (message timestamps included).
    start_time: float = 0.0
    delivered_after: float = 1.0
    read_after: float = 3.0
    # Meta skips `delivered` when a message is read at once; this is how often the emulator does.
    skip_delivered_probability: float = 0.0
    # Meta puts a number in maintenance (131057) for up to a minute while raising its throughput.
    throughput_upgrade_seconds: float = 0.0
    # Template pacing: after this many sends of a new marketing/utility template, hold the rest until its
    # quality is known (0 = off).
    pacing_after: int = 0
    template_review_after: float = 5.0
    webhook_batch_max: int = 50
    webhook_timeout: float = 5.0
    pair_burst: int = 45
    pair_interval: float = 6.0
    marketing_per_user_per_day: int = 10
    redelivery_window: float = 7 * 24 * 3600.0
    verify_webhook_before_delivery: bool = True
    validate_outgoing_webhooks: bool = False


@dataclass(frozen=True)
class EmulatorConfig:
    accounts: tuple[AccountConfig, ...]
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)

    def with_behaviour(self, **changes: Any) -> EmulatorConfig:
        return replace(self, behaviour=replace(self.behaviour, **changes))


DEFAULT_TOKEN = "EMULATOR-ACCESS-TOKEN"  # noqa: S105 - emulator-only default
DEFAULT_APP_SECRET = "emulator-app-secret"  # noqa: S105 - emulator-only default


def default_config(callback_url: str | None = None) -> EmulatorConfig:
    phone = PhoneNumberConfig(id="106540352242922", display_phone_number="15550783881")
    account = AccountConfig(
        waba_id="102290129340398",
        phone_numbers=(phone,),
        access_tokens=(DEFAULT_TOKEN,),
        app_secret=DEFAULT_APP_SECRET,
        callback_url=callback_url,
    )
    return EmulatorConfig(accounts=(account,))


def _phone_from_dict(raw: dict[str, Any]) -> PhoneNumberConfig:
    return PhoneNumberConfig(
        id=str(raw["id"]),
        display_phone_number=str(raw["display_phone_number"]),
        verified_name=str(raw.get("verified_name", "Emulated Business")),
        throughput=Throughput.parse(str(raw.get("throughput", "STANDARD"))),
        quality=Quality.parse(str(raw.get("quality", "GREEN"))),
    )


def _account_from_dict(raw: dict[str, Any]) -> AccountConfig:
    tier = str(raw.get("messaging_tier", "TIER_UNLIMITED"))
    if tier not in MESSAGING_TIERS:
        raise ValueError(f"unknown messaging_tier {tier!r}; expected one of {sorted(MESSAGING_TIERS)}")
    return AccountConfig(
        waba_id=str(raw["waba_id"]),
        phone_numbers=tuple(_phone_from_dict(p) for p in raw.get("phone_numbers", [])),
        access_tokens=tuple(str(t) for t in raw.get("access_tokens", [DEFAULT_TOKEN])),
        app_secret=str(raw.get("app_secret", DEFAULT_APP_SECRET)),
        callback_url=raw.get("callback_url"),
        verify_token=str(raw.get("verify_token", "emulator-verify-token")),
        business_id=str(raw.get("business_id", "")),
        messaging_tier=tier,
        template_limit=int(raw.get("template_limit", 250)),
    )


def config_from_dict(raw: dict[str, Any]) -> EmulatorConfig:
    accounts = tuple(_account_from_dict(a) for a in raw.get("accounts", []))
    if not accounts:
        accounts = default_config().accounts
    known = BehaviourConfig.__dataclass_fields__
    behaviour_raw = raw.get("behaviour", {})
    unknown = set(behaviour_raw) - set(known)
    if unknown:
        raise ValueError(f"unknown behaviour keys: {sorted(unknown)}")
    return EmulatorConfig(accounts=accounts, behaviour=BehaviourConfig(**behaviour_raw))


def load_config(path: Path) -> EmulatorConfig:
    text = path.read_bytes()
    raw = tomllib.loads(text.decode()) if path.suffix == ".toml" else json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError("the emulator config must be an object")
    return config_from_dict(raw)
