"""X-Hub-Signature-256: HMAC-SHA256 of the app secret over the exact bytes sent (REFERENCE §3)."""

from __future__ import annotations

import hashlib
import hmac


def signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify(app_secret: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(signature(app_secret, body), header)
