"""Webhook authenticity: ``X-Hub-Signature-256`` on POSTs and the ``hub.*`` handshake on GET.

Both compare in constant time. Both fail closed: a missing secret, a missing header or a header that
is not exactly ``sha256=<64 hex digits>`` is a failure, never a pass.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Hub-Signature-256"

_SIGNATURE_FORMAT = re.compile(r"sha256=([0-9a-fA-F]{64})")
# Meta's challenge is a number; we echo it as the response body, so only harmless characters may pass.
_CHALLENGE_FORMAT = re.compile(r"[A-Za-z0-9_.\-]{1,256}")


def expected_signature(app_secret: bytes, raw_body: bytes) -> str:
    """The header value Meta would send for ``raw_body``; the emulator and tests sign with it."""
    return "sha256=" + hmac.new(app_secret, raw_body, hashlib.sha256).hexdigest()


def verify_signature(app_secret: bytes, raw_body: bytes, header: str | None) -> bool:
    """True only if ``header`` is ``sha256=<hex HMAC-SHA256(app_secret, raw_body)>``.

    Verify over the raw bytes as received: re-serialised JSON would not match.
    """
    if not app_secret or header is None:
        return False
    match = _SIGNATURE_FORMAT.fullmatch(header)
    if match is None:
        return False
    given = bytes.fromhex(match.group(1))
    actual = hmac.new(app_secret, raw_body, hashlib.sha256).digest()
    return hmac.compare_digest(given, actual)


def verify_subscription(params: Mapping[str, str], verify_token: str) -> str | None:
    """The GET handshake: the challenge to echo back, or ``None`` to answer 403.

    ``params`` are the query parameters (``hub.mode``, ``hub.verify_token``, ``hub.challenge``).
    """
    if not verify_token:
        return None
    if params.get("hub.mode") != "subscribe":
        return None
    given = params.get("hub.verify_token", "")
    if not hmac.compare_digest(given.encode(), verify_token.encode()):
        return None
    challenge = params.get("hub.challenge", "")
    if _CHALLENGE_FORMAT.fullmatch(challenge) is None:
        return None
    return challenge
