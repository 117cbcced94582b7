"""Fixtures for the crypto tests: test-only tables, an isolated key directory per test, moto for KMS."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from chatrk.accounts.models import User
from chatrk.core.clock import now
from chatrk.core.models import Membership, Workspace
from chatrk.core.roles import Role
from chatrk.crypto import keyring
from chatrk.crypto.providers import _provider_for
from chatrk.crypto.tests.models import TEST_MODELS


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any, request: pytest.FixtureRequest) -> None:
    """The test-only tables, in the test database. A session none of whose tests uses the database
    gets no test database from pytest-django: the tables would land in the developer's var/."""
    if not any(_uses_database(item) for item in request.session.items):
        return
    with django_db_blocker.unblock(), connection.schema_editor() as editor:
        for model in TEST_MODELS:
            editor.create_model(model)


def _uses_database(item: pytest.Item) -> bool:
    """As pytest-django decides which tests need a database: the marker or the database fixtures."""
    fixtures = set(getattr(item, "fixturenames", ()))
    return item.get_closest_marker("django_db") is not None or bool(
        {"db", "transactional_db", "live_server"} & fixtures
    )


@pytest.fixture(autouse=True)
def key_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh KEK file and erasure ledger per test; no key cache carried between tests."""
    keys = tmp_path / "keys"
    keyring.clear_cache()
    with override_settings(
        CRYPTO_KEK_PROVIDER="file",
        CRYPTO_KEK_FILE=keys / "kek.json",
        CRYPTO_ERASURE_LEDGER=keys / "erasures.log",
        CRYPTO_KEY_CACHE_SECONDS=0,
    ):
        yield keys
    keyring.clear_cache()
    _provider_for.cache_clear()


def make_workspace(slug: str) -> Workspace:
    return Workspace.objects.create(name=slug.title(), slug=slug, created_at=now())


def make_member(workspace: Workspace, role: Role, email: str) -> tuple[User, Membership]:
    user = User.objects.create(email=email, name="Member", created_at=now())
    membership = Membership.objects.create(workspace=workspace, user=user, role=role, created_at=now())
    return user, membership


@pytest.fixture
def workspace(db: None) -> Workspace:
    return make_workspace("acme")


@pytest.fixture
def other_workspace(db: None) -> Workspace:
    return make_workspace("globex")


# --- moto's standalone server, for AWS KMS with the real boto3 client ---------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = _free_port()
    server = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(  # noqa: S603 - a fixed local binary and arguments
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "false"},
    )  # fmt: skip
    try:
        _wait_for(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("moto_server did not start")


@pytest.fixture
def kms(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A real boto3 KMS client pointed at moto, with fake credentials and no other network."""
    import boto3  # type: ignore[import-untyped]

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return boto3.client("kms", region_name="us-east-1", endpoint_url=moto_endpoint)
