"""Password rules against ASVS V6.2 and NIST SP 800-63B rev 4 (STANDARDS.md §1 items 1 to 6)."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import identify_hasher
from django.core.exceptions import ValidationError

from chatrk.accounts.actions import new_user
from chatrk.testing import make_user


def refusal(password: str, **context: str) -> list[str]:
    try:
        new_user(context.get("email", "sam@example.org"), context.get("name", "Sam Field"), password,
                 context=[context.get("workspace", "Blue Lantern Bakery")])  # fmt: skip
    except ValidationError as error:
        return [e.code or "" for e in error.error_list]
    return []


def test_short_passwords_are_refused_with_the_reason() -> None:
    assert refusal("tiny lamp 9") == ["password_too_short"]
    assert refusal("twelve chars") == []


@pytest.mark.parametrize("length", [64, 128, 256])
def test_long_passwords_are_accepted(length: int) -> None:
    assert refusal(("granite orchard velvet " * 20)[:length]) == []


def test_no_composition_rules() -> None:
    assert refusal("lowercaseonlyletters") == []


@pytest.mark.django_db
@pytest.mark.real_hasher
def test_verified_exactly_as_typed_without_truncation_or_case_folding() -> None:
    base = "quiet meadow lantern " * 5  # 105 characters
    user = new_user("long@example.org", "Long Pass", base)
    assert identify_hasher(user.password).algorithm == "argon2"
    assert "argon2id" in user.password
    altered = base[:80] + ("X" if base[80] != "X" else "Y") + base[81:]
    assert user.check_password(base)
    assert not user.check_password(altered)
    assert not user.check_password(base.upper())


@pytest.mark.parametrize("password", ["password1234", "qwertyuiop123", "iloveyou1234", "1234567890ab"])
def test_common_and_breached_passwords_are_refused(password: str) -> None:
    assert "password_breached" in refusal(password)


@pytest.mark.parametrize(
    "password",
    ["Chatrk2026!!!!", "whatsapp-whatsapp", "BlueLanternBakery1", "sam.field.2026!", "ChatrkWhatsApp99"],
)
def test_passwords_built_from_context_words_are_refused(password: str) -> None:
    codes = refusal(
        password, email="sam.field@example.org", name="Sam Field", workspace="Blue Lantern Bakery"
    )
    assert "password_context_words" in codes


def test_a_passphrase_that_merely_mentions_a_context_word_is_fine() -> None:
    assert refusal("my whatsapp inbox likes purple giraffes") == []


def test_unicode_is_normalised_before_hashing() -> None:
    composed, decomposed = "café au lait forever", "cafe\u0301 au lait forever"
    user = new_user("uni@example.org", "Uni Code", composed)
    from chatrk.accounts.passwords import normalise

    assert user.check_password(normalise(decomposed))


@pytest.mark.django_db
def test_the_workspace_name_of_an_existing_member_is_a_context_word() -> None:
    from django.contrib.auth.password_validation import validate_password

    from chatrk.testing import add_member, make_workspace

    user = make_user()
    workspace = make_workspace("Zanzibar Imports")
    add_member(workspace, user)
    with pytest.raises(ValidationError):
        validate_password(workspace.name.replace(" ", "") + "!!", user)
