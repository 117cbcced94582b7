"""``chatrk.wsgi``: webhooks are served without the browser middleware, and nothing else is."""

from __future__ import annotations

import fcntl
import io
import json
import threading
import time
from typing import Any

import pytest
from django.core.signals import request_started
from django.db import close_old_connections, connection

from chatrk.crypto.fields import open_for_system
from chatrk.ingest import receive
from chatrk.ingest.models import RawEvent
from chatrk.ingest.tests.conftest import make_channel, url
from chatrk.whatsapp.signature import expected_signature
from chatrk.wsgi import application

pytestmark = pytest.mark.django_db

BODY = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()


def call(
    path: str, body: bytes = b"", *, method: str = "POST", signature: str = ""
) -> tuple[str, dict[str, str]]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json", "HTTP_X_HUB_SIGNATURE_256": signature,
    }  # fmt: skip
    answer: list[Any] = []
    # As Django's test client does: the handler must not close the test's connection (and transaction).
    request_started.disconnect(close_old_connections)
    try:
        b"".join(application(environ, lambda status, headers: answer.extend([status, dict(headers)])))
    finally:
        request_started.connect(close_old_connections)
    return answer[0], answer[1]


def signed(channel: Any, body: bytes) -> str:
    return expected_signature(open_for_system(channel, "app_secret").encode(), body)


def test_a_signed_webhook_is_stored_and_answered_with_a_length_not_a_cookie() -> None:
    channel = make_channel()
    status, headers = call(url(channel), BODY, signature=signed(channel, BODY))
    assert status.startswith("200") and headers["Content-Length"] == "0"
    assert "Set-Cookie" not in headers and "Content-Security-Policy" not in headers  # no browser middleware
    assert RawEvent.objects.count() == 1


def test_a_bad_signature_through_the_server_stores_nothing() -> None:
    channel = make_channel()
    status, _ = call(url(channel), BODY, signature=signed(channel, BODY + b" "))
    assert status.startswith("401") and not RawEvent.objects.exists()


@pytest.mark.parametrize(
    "path", ["/webhooks/login/", "/webhooks/whatsapp/k/../../../login/", "/webhooks/api/contacts"]
)
def test_no_other_view_is_reachable_without_the_browser_middleware(path: str) -> None:
    status, _ = call(path, method="GET")
    assert status.startswith("404")


def test_every_other_path_keeps_the_browser_middleware() -> None:
    status, headers = call("/login/", method="GET")
    assert status.startswith("200")
    assert headers["X-Frame-Options"] == "DENY" and "chatrk_csrf" in headers.get("Set-Cookie", "")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'sqlite'", reason="the file lock guards SQLite's single writer")
def test_group_writes_wait_for_another_process_holding_the_write_turn() -> None:
    channel = make_channel()
    keys = receive.channel_keys(channel.webhook_key)
    assert keys is not None
    done = threading.Event()

    def write() -> None:
        try:
            receive._insert([receive._row(keys, BODY)])
            done.set()
        finally:
            connection.close()

    with open(f"{connection.settings_dict['NAME']}.ingest-lock", "ab") as other_process:
        fcntl.flock(other_process, fcntl.LOCK_EX)  # a lock on another open file, as another process holds it
        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.3)
        assert not done.is_set() and not RawEvent.objects.exists()
        fcntl.flock(other_process, fcntl.LOCK_UN)
    writer.join(timeout=10)
    assert done.is_set() and RawEvent.objects.count() == 1
