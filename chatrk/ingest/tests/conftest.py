"""Builders for ingest tests: a connected channel and signed webhook POSTs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from chatrk.audit.actions import Origin
from chatrk.core.roles import Role
from chatrk.crypto.fields import open_for_system
from chatrk.inbox.actions import ChannelSettings, connect_channel
from chatrk.inbox.models import Channel
from chatrk.ingest import actions, receive
from chatrk.testing import add_member, make_workspace
from chatrk.whatsapp.signature import expected_signature

SAMPLES_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "cloudapi" / "samples"
SAMPLE_PHONE_NUMBER_ID = "1122334455667"
SAMPLE_WABA = "102290129340398"


@pytest.fixture(autouse=True)
def _ids_back_from_the_future() -> Iterator[None]:
    """Ids made while time-machine travels forward would keep later ids (other tests') in the future."""
    from chatrk.core import ids

    issued = ids._last_issued
    yield
    ids._last_issued = issued


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path) -> Iterator[None]:
    receive.clear_cache()
    receive.reset_signature_failures()
    actions.forget_cached()
    tasks = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    with override_settings(TASKS=tasks, MEDIA_DIR=tmp_path / "media"):
        yield
    receive.clear_cache()


def make_channel(
    phone_number_id: str = SAMPLE_PHONE_NUMBER_ID,
    *,
    workspace_owner: Any = None,
    display: str = "+972 12 345 6789",
    waba_id: str = SAMPLE_WABA,
    secret: str = "app-secret",  # noqa: S107 (a test channel's app secret)
) -> Channel:
    owner = workspace_owner or add_member(make_workspace(), role=Role.OWNER)
    spec = ChannelSettings("Support", phone_number_id, waba_id, display, "EAAG-token", secret)
    return connect_channel(owner, spec, origin=Origin())


def url(channel: Channel) -> str:
    return f"/webhooks/whatsapp/{channel.webhook_key}"


def post(channel: Channel, body: bytes | dict[str, Any], *, secret: str | None = None) -> int:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    key = (secret or open_for_system(channel, "app_secret")).encode()
    response = Client().post(
        url(channel),
        raw,
        content_type="application/json",
        headers={"X-Hub-Signature-256": expected_signature(key, raw)},
    )
    return response.status_code


def sample(name: str) -> bytes:
    if not SAMPLES_DIR.is_dir():
        pytest.skip("payload samples not checked out beside the project")
    return (SAMPLES_DIR / name).read_bytes()


def sample_names() -> list[str]:
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(path.name for path in SAMPLES_DIR.glob("*.json"))
