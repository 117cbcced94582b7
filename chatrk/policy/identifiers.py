"""Sensitive identifiers found in a message: full payment card numbers and national id numbers.

Every candidate is checked (Luhn for cards, the official check digits for CPF, DNI/NIE, the SSN's
invalid ranges) so order numbers and one-time codes do not trip the rule. Evidence never carries the
number itself: at most its last four digits, which the WhatsApp Business Policy allows to be shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# 13-19 digits, optionally grouped by single spaces, dots or dashes (as printed on cards).
_CARD = re.compile(r"(?<![\d.\-])\d(?:[ \-.]?\d){12,18}(?![\d])")
# Issuer ranges start with 2 (Mastercard 2-series), 3 (Amex, Diners, JCB), 4 (Visa), 5 (Mastercard) or
# 6 (Discover, Maestro, UnionPay): order numbers starting otherwise are not cards even when Luhn passes.
_CARD_FIRST_DIGITS = frozenset("23456")
_SSN = re.compile(r"(?<!\d)(\d{3})-(\d{2})-(\d{4})(?!\d)")
_CPF = re.compile(r"(?<!\d)(\d{3})\.?(\d{3})\.?(\d{3})-?(\d{2})(?!\d)")
_DNI = re.compile(r"(?<![\w])([xyz]?)-?(\d{7,8})-?([a-z])(?!\w)")
_DNI_LETTERS = "trwagmyfpdxbnjzsqvhlcke"


@dataclass(frozen=True, slots=True)
class Found:
    kind: str  # "card", "ssn", "cpf", "dni"
    start: int
    end: int
    masked: str


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def cpf_ok(digits: str) -> bool:
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    numbers = [int(c) for c in digits]
    for length in (9, 10):
        total = sum(n * (length + 1 - i) for i, n in enumerate(numbers[:length]))
        if (total * 10 % 11) % 10 != numbers[length]:
            return False
    return True


def dni_ok(prefix: str, digits: str, letter: str) -> bool:
    number = str("xyz".index(prefix)) + digits if prefix else digits
    if len(digits) != (7 if prefix else 8):
        return False
    return _DNI_LETTERS[int(number) % 23] == letter


def ssn_ok(area: str, group: str, serial: str) -> bool:
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


def find_identifiers(plain: str) -> Iterator[Found]:
    """Sensitive identifiers in normalised text (offsets are in ``plain``)."""
    if sum(c.isdigit() for c in plain) < 8:
        return
    for match in _CARD.finditer(plain):
        digits = re.sub(r"\D", "", match.group())
        if (
            13 <= len(digits) <= 19
            and digits[0] in _CARD_FIRST_DIGITS
            and len(set(digits)) > 1
            and luhn_ok(digits)
        ):
            yield Found("card", match.start(), match.end(), f"card ending {digits[-4:]}")
    for match in _SSN.finditer(plain):
        if ssn_ok(*match.groups()):
            yield Found("ssn", match.start(), match.end(), "US SSN (masked)")
    for match in _CPF.finditer(plain):
        if cpf_ok("".join(match.groups())):
            yield Found("cpf", match.start(), match.end(), "BR CPF (masked)")
    for match in _DNI.finditer(plain):
        if dni_ok(*match.groups()):
            yield Found("dni", match.start(), match.end(), "ES DNI/NIE (masked)")
