"""Shared pytest setup for the whole repository."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


@pytest.fixture(scope="session", autouse=True)
def _no_stray_connections_at_teardown(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Background threads under test (the ingest writer, the sender, live servers) may still hold a
    PostgreSQL connection when the session ends; the test database cannot be dropped while they do."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
