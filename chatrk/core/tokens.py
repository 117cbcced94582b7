"""Bearer secrets: 256 bits from the CSPRNG, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """High-entropy secrets need no slow hash: a plain SHA-256 cannot be brute-forced."""
    return hashlib.sha256(secret.encode()).hexdigest()
