"""Recovery codes: ten single-use codes, shown once, stored as salted Argon2id hashes (ASVS V6.5.2)."""

from __future__ import annotations

import secrets

COUNT = 10
LENGTH = 16
# Crockford's base32: no I, L, O or U, so codes read aloud or copied by hand survive.
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_CONFUSABLE = str.maketrans({"i": "1", "l": "1", "o": "0"})


def new_codes() -> list[str]:
    return ["".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT)]


def display(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise(typed: str) -> str:
    cleaned = "".join(ch for ch in typed.lower() if ch.isalnum()).translate(_CONFUSABLE)
    return cleaned if len(cleaned) == LENGTH and all(ch in ALPHABET for ch in cleaned) else ""
