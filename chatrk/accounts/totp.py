"""TOTP second factor (RFC 6238 over RFC 4226, via django-otp's reference implementation)."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from urllib.parse import quote, urlencode

import segno
from django.utils.crypto import constant_time_compare
from django_otp.oath import hotp

SEED_BYTES = 20  # 160 bits, as RFC 4226 §4 recommends (NIST asks for at least 112)
STEP_SECONDS = 30
DIGITS = 6
# One step either side absorbs clock drift on the phone; a code still works only once.
DRIFT_STEPS = 1
ISSUER = "Chatrk"


def new_seed() -> bytes:
    return secrets.token_bytes(SEED_BYTES)


def seed_text(seed: bytes) -> str:
    """The seed as the base32 text authenticator apps accept for manual entry, in groups of four."""
    text = base64.b32encode(seed).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def provisioning_uri(seed: bytes, account: str) -> str:
    label = quote(f"{ISSUER}:{account}")
    query = urlencode(
        {
            "secret": base64.b32encode(seed).decode().rstrip("="),
            "issuer": ISSUER,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        }
    )
    return f"otpauth://totp/{label}?{query}"


def qr_svg(uri: str) -> str:
    """An inline SVG QR code: no image request, nothing for the CSP to allow."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=5, title="Scan with your authenticator app")
    return svg


def code_at(seed: bytes, step: int) -> str:
    return str(hotp(seed, step, digits=DIGITS)).zfill(DIGITS)


def step_of(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def matching_step(seed: bytes, code: str, *, at: datetime, after_step: int) -> int | None:
    """The time step the code belongs to, if it is valid now and newer than ``after_step`` (no replay)."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    current = step_of(at)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step > after_step and constant_time_compare(code_at(seed, step), code):
            return step
    return None
