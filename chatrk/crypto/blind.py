"""Blind indexes: truncated HMAC-SHA256 of a normalised value under a per-workspace, per-column key.

The per-column key is derived by HKDF from the workspace's INDEX key (wrapped by the KEK, and not
changed by workspace-key rotation, so indexes stay valid). Truncation follows CipherSweet's leakage
rule: with R expected rows and L bits, the expected number of coincidences C = R / 2^L must satisfy
2 <= C < sqrt(R). Several rows share each index value, so a lookup returns candidates that are then
confirmed by decrypting; an attacker holding the index learns little about which rows are equal.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache

import phonenumbers
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chatrk.crypto.errors import CryptoError
from chatrk.crypto.keyring import active_key
from chatrk.crypto.models import KeyKind


class NormalisationError(CryptoError, ValueError):
    """The value cannot be normalised (for example, not a valid phone number); the value is not echoed."""


def e164(value: str) -> str:
    """A phone number in E.164. Numbers are always international (WhatsApp ids arrive as digits without
    the "+"), so a missing "+" is added rather than guessing a national region."""
    raw = value.strip()
    if not raw.startswith("+"):
        raw = "+" + raw
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise NormalisationError("not a phone number in international format") from None
    if not phonenumbers.is_possible_number(number):
        raise NormalisationError("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=16_384)  # a pure function, and parsing is slow: the drainer asks for each sender
def whatsapp_id(value: str) -> str:
    """E.164, with the two legacy forms WhatsApp still reports folded into the current one, so either
    finds the same contact: Brazilian mobiles without the ninth digit (+55 DD 8xxxxxxx becomes
    +55 DD 98xxxxxxx) and Mexican mobiles with the old "1" after +52 (+52 1 xxxxxxxxxx)."""
    digits = value.strip().removeprefix("+")
    if digits.startswith("521") and len(digits) == 13:
        digits = "52" + digits[3:]  # phonenumbers no longer accepts the old Mexican form at all
    number = e164(digits)
    if number.startswith("+55") and len(number) == 13 and number[5] in "6789":
        return f"{number[:5]}9{number[5:]}"
    return number


def email(value: str) -> str:
    return unicodedata.normalize("NFKC", value.strip()).lower()


def exact(value: str) -> str:
    return value


NORMALISERS: dict[str, Callable[[str], str]] = {
    "e164": e164,
    "whatsapp_id": whatsapp_id,
    "email": email,
    "exact": exact,
}


def bits_for(expected_rows: int) -> int:
    """The largest L (fewest false positives) that still meets 2 <= R / 2^L < sqrt(R)."""
    if expected_rows < 16:
        raise CryptoError("a blind index needs at least 16 expected rows to leak less than it finds")
    largest = math.floor(math.log2(expected_rows / 2))
    smallest = math.floor(math.log2(expected_rows) / 2) + 1
    if largest < smallest:
        raise CryptoError(f"no index width satisfies the leakage rule for {expected_rows} rows")
    return min(largest, 62)


@lru_cache(maxsize=1024)
def _column_key(root_key_id: int, root: bytes, table: str, column: str) -> bytes:
    info = f"chatrk-blind-index/1|{table}|{column}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(root)


def index_value(workspace_id: int, table: str, column: str, normalised: str, bits: int) -> int:
    return index_values(workspace_id, table, column, [normalised], bits)[0]


def index_values(
    workspace_id: int, table: str, column: str, normalised: Iterable[str], bits: int
) -> list[int]:
    """``index_value`` of many values, the workspace's index key looked up once."""
    root = active_key(workspace_id, KeyKind.INDEX)
    key = _column_key(root.id, root.material, table, column)
    return [
        int.from_bytes(hmac.new(key, value.encode(), hashlib.sha256).digest()[:8], "big") >> (64 - bits)
        for value in normalised
    ]
