"""Builders for ingest tests: a connected channel and signed webhook POSTs."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.signals import request_started
from django.db import close_old_connections
from django.test import override_settings

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
    status, _, _ = serve(url(channel), raw, headers={"X-Hub-Signature-256": expected_signature(key, raw)})
    return status


def serve(
    path: str,
    body: bytes = b"",
    *,
    method: str = "POST",
    query: str = "",
    headers: dict[str, str] | None = None,
    content_length: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request through ``chatrk.wsgi``, the production entry point: status, headers, content."""
    from chatrk.wsgi import application

    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": query,
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)) if content_length is None else content_length,
        "CONTENT_TYPE": "application/json",
    }  # fmt: skip
    environ |= {"HTTP_" + name.upper().replace("-", "_"): value for name, value in (headers or {}).items()}
    answer: list[Any] = []
    # As Django's test client does: the handler must not close the test's connection (and transaction).
    request_started.disconnect(close_old_connections)
    try:
        content = b"".join(application(environ, lambda status, listed: answer.extend([status, listed])))
    finally:
        request_started.connect(close_old_connections)
    return int(answer[0].split()[0]), dict(answer[1]), content


def sample(name: str) -> bytes:
    if not SAMPLES_DIR.is_dir():
        pytest.skip("payload samples not checked out beside the project")
    return (SAMPLES_DIR / name).read_bytes()


def sample_names() -> list[str]:
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(path.name for path in SAMPLES_DIR.glob("*.json"))
