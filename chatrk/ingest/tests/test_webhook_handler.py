"""``chatrk.wsgi``: webhooks are served outside Django's request cycle, and nothing else is."""

from __future__ import annotations

import fcntl
import json
import threading
import time
from typing import Any

import pytest
from django.db import OperationalError, connection

from chatrk.crypto.fields import open_for_system
from chatrk.ingest import receive
from chatrk.ingest.models import RawEvent
from chatrk.ingest.tests.conftest import make_channel, serve, url
from chatrk.whatsapp.signature import expected_signature

pytestmark = pytest.mark.django_db

BODY = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()


def signed(channel: Any, body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": expected_signature(open_for_system(channel, "app_secret").encode(), body)}


def test_a_signed_webhook_is_stored_and_answered_with_a_length_not_a_cookie() -> None:
    channel = make_channel()
    status, headers, _ = serve(url(channel), BODY, headers=signed(channel, BODY))
    assert status == 200 and headers["Content-Length"] == "0"
    assert "Set-Cookie" not in headers and "Content-Security-Policy" not in headers  # no browser middleware
    assert RawEvent.objects.count() == 1


def test_a_bad_signature_through_the_server_stores_nothing() -> None:
    channel = make_channel()
    status, _, _ = serve(url(channel), BODY, headers=signed(channel, BODY + b" "))
    assert status == 401 and not RawEvent.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/webhooks/login/",
        "/webhooks/whatsapp/k/../../../login/",
        "/webhooks/api/contacts",
        "/webhooks/whatsapp/",
    ],
)
def test_no_other_view_is_reachable_without_the_browser_middleware(path: str) -> None:
    assert serve(path, method="GET")[0] == 404


def test_every_other_path_keeps_the_browser_middleware() -> None:
    status, headers, _ = serve("/login/", method="GET")
    assert status == 200
    assert headers["X-Frame-Options"] == "DENY" and "chatrk_csrf" in headers.get("Set-Cookie", "")


@pytest.mark.django_db(transaction=True)  # outside a test transaction, as a server's requests are
def test_a_failed_store_answers_500_logs_no_body_and_drops_the_broken_connection(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    channel = make_channel()
    body = json.dumps({"object": "whatsapp_business_account", "entry": [], "name": "Sheena Nelson"}).encode()

    def database_gone(rows: list[Any]) -> None:
        connection.errors_occurred = True  # as Django's error wrapper marks a connection after a failure
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(receive, "_insert", database_gone)
    monkeypatch.setattr(connection, "is_usable", lambda: False)
    connection.ensure_connection()
    status, headers, _ = serve(url(channel), body, headers=signed(channel, body))
    assert (status, headers["Content-Length"]) == (500, "0")  # Meta redelivers on anything but 200
    assert connection.connection is None  # the next request opens a fresh connection
    assert "webhook request failed" in caplog.text and "Sheena" not in caplog.text
    monkeypatch.undo()
    assert serve(url(channel), body, headers=signed(channel, body))[0] == 200
    assert RawEvent.objects.count() == 1


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
