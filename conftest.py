"""Shared pytest setup for the whole repository."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings


@pytest.fixture(autouse=True)
def _fast_password_hashing(request: pytest.FixtureRequest) -> Iterator[None]:
    """Argon2 at production cost is slow by design; tests that check the hasher opt out."""
    if request.node.get_closest_marker("real_hasher"):
        yield
        return
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _no_key_cache_between_tests() -> None:
    """Keys are cached per process; a test database rolled back or flushed must not leave stale ids."""
    from chatrk.crypto import keyring

    keyring.clear_cache()
