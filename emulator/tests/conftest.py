from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator.config import DEFAULT_APP_SECRET, default_config
from emulator.schema import webhook_errors
from emulator.testing import EmulatorServer, WebhookReceiver

PHONE = "106540352242922"
WABA = "102290129340398"
CUSTOMER = "16505551234"


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    # Frozen clock: time moves only when a test says so, so nothing here sleeps.
    config = default_config().with_behaviour(time_scale=0.0, template_review_after=60.0)
    with EmulatorServer(config, receiver=WebhookReceiver(app_secret=DEFAULT_APP_SECRET)) as running:
        yield running
        assert running.receiver is not None
        for payload in running.receiver.payloads:
            assert webhook_errors(payload) == [], payload


@pytest.fixture
def graph(server: EmulatorServer) -> Iterator[httpx.Client]:
    with server.graph_client() as client:
        yield client


@pytest.fixture
def receiver(server: EmulatorServer) -> WebhookReceiver:
    assert server.receiver is not None
    return server.receiver


def send(
    graph: httpx.Client, message_type: str, payload: Any, to: str = CUSTOMER, **extra: Any
) -> httpx.Response:
    body = {"messaging_product": "whatsapp", "to": to, "type": message_type, message_type: payload, **extra}
    return graph.post(f"/{PHONE}/messages", json=body)


def error_code(response: httpx.Response) -> int:
    code: int = response.json()["error"]["code"]
    return code


def statuses_for(receiver: WebhookReceiver, wamid: str) -> list[str]:
    return [status for message_id, status in receiver.statuses_seen() if message_id == wamid]


def status_items(receiver: WebhookReceiver, wamid: str) -> list[dict[str, Any]]:
    return [
        item
        for payload in receiver.payloads
        for entry in payload["entry"]
        for change in entry["changes"]
        for item in change["value"].get("statuses", [])
        if item["id"] == wamid
    ]


def approved_template(server: EmulatorServer, graph: httpx.Client, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "components": [
            {"type": "BODY", "text": "Hello {{1}}, your order {{2}} has shipped and is on its way."}
        ],
    }
    body.update(overrides)
    created = graph.post(f"/{WABA}/message_templates", json=body)
    assert created.status_code == 200, created.text
    server.control.review_now(created.json()["id"])
    return {**body, "id": created.json()["id"]}
