"""TOTP against the RFC 4226 and RFC 6238 vectors of STANDARDS.md §2, and the replay rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatrk.accounts import totp

RFC_SEED = b"12345678901234567890"
HOTP_VECTORS = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(HOTP_VECTORS)))
def test_rfc4226_appendix_d(counter: int, expected: str) -> None:
    assert totp.code_at(RFC_SEED, counter) == expected


@pytest.mark.parametrize(
    ("unix_time", "expected"), [(1111111111, "050471"), (1234567890, "005924"), (2000000000, "279037")]
)
def test_rfc6238_appendix_b_six_digit_form(unix_time: int, expected: str) -> None:
    at = datetime.fromtimestamp(unix_time, tz=UTC)
    assert totp.matching_step(RFC_SEED, expected, at=at, after_step=-1) == unix_time // 30


def test_a_code_is_accepted_once_only() -> None:
    at = datetime.fromtimestamp(1234567890, tz=UTC)
    step = totp.matching_step(RFC_SEED, "005924", at=at, after_step=-1)
    assert step is not None
    assert totp.matching_step(RFC_SEED, "005924", at=at, after_step=step) is None


def test_one_step_of_clock_drift_is_tolerated_but_not_two() -> None:
    at = datetime.fromtimestamp(1234567890, tz=UTC)
    code = "005924"
    assert totp.matching_step(
        RFC_SEED, code, at=datetime.fromtimestamp(1234567890 + 30, tz=UTC), after_step=-1
    )
    assert (
        totp.matching_step(RFC_SEED, code, at=datetime.fromtimestamp(1234567890 + 61, tz=UTC), after_step=-1)
        is None
    )
    assert totp.matching_step(RFC_SEED, code, at=at, after_step=-1)


@pytest.mark.parametrize("junk", ["", "12345", "1234567", "abcdef", "٠٠٥٩٢٤", "005 924x"])
def test_malformed_codes_never_match(junk: str) -> None:
    at = datetime.fromtimestamp(1234567890, tz=UTC)
    assert totp.matching_step(RFC_SEED, junk, at=at, after_step=-1) is None


def test_seeds_are_random_160_bit() -> None:
    seeds = {totp.new_seed() for _ in range(50)}
    assert len(seeds) == 50 and all(len(s) == 20 for s in seeds)


def test_provisioning_uri_carries_issuer_and_parameters() -> None:
    uri = totp.provisioning_uri(RFC_SEED, "ada@example.org")
    assert uri.startswith("otpauth://totp/Chatrk%3Aada%40example.org?")
    assert "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" in uri and "period=30" in uri and "digits=6" in uri
    assert totp.qr_svg(uri).startswith("<svg")
