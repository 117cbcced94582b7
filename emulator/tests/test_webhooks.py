"""Webhooks out: handshake, signature, batching, redelivery with backoff, webhook faults."""

from __future__ import annotations

import itertools
import json

import httpx
import pytest

from emulator.config import DEFAULT_APP_SECRET, default_config
from emulator.signing import signature, verify
from emulator.testing import EmulatorServer, WebhookReceiver
from emulator.tests.conftest import CUSTOMER, WABA, send


def test_signature_matches_the_reference_test_vector() -> None:
    expected = "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221"
    assert signature("TEST_APP_SECRET", b"test") == expected
    assert verify("TEST_APP_SECRET", b"test", expected)
    assert not verify("TEST_APP_SECRET", b"test ", expected)
    assert not verify("TEST_APP_SECRET", b"test", None)


def test_handshake_runs_once_before_the_first_delivery_and_bodies_are_signed(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    assert receiver.challenges == 0
    server.control.text(CUSTOMER, "hi")
    send(graph, "text", {"body": "hello"})
    server.advance(5)
    assert receiver.challenges == 1
    assert receiver.received
    assert all(r.valid for r in receiver.received)
    # The signature covers the exact bytes sent: compact JSON, not a re-serialisation.
    first = receiver.received[0]
    assert first.signature == signature(DEFAULT_APP_SECRET, first.body)
    assert server.control.state()["accounts"][0]["verification"]["ok"] is True


def test_failed_handshake_holds_deliveries_until_fixed() -> None:
    receiver = WebhookReceiver(app_secret=DEFAULT_APP_SECRET, verify_token="something-else")
    config = default_config().with_behaviour(time_scale=0.0)
    with EmulatorServer(config, receiver=receiver) as server:
        server.control.text(CUSTOMER, "hi")
        server.settle()
        assert receiver.received == []
        [pending] = server.control.deliveries(state="pending")
        assert pending["attempts"][0]["error"] == "verification handshake failed"
        receiver.verify_token = "emulator-verify-token"
        server.control.set_webhook(
            WABA, "https://receiver.test/webhook", verify_token="emulator-verify-token"
        )
        server.advance(15)
        assert len(receiver.messages_seen()) == 1


def test_updates_due_together_share_one_post(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    server.control.text(CUSTOMER, "hi")
    server.settle()
    before = len(receiver.received)
    wamids = [send(graph, "text", {"body": str(i)}).json()["messages"][0]["id"] for i in range(3)]
    server.settle()
    [batch] = receiver.payloads[before:]
    statuses = batch["entry"][0]["changes"][0]["value"]["statuses"]
    assert [(s["id"], s["status"]) for s in statuses] == [(w, "sent") for w in wamids]


def test_non_200_answers_are_redelivered_with_backoff(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    receiver.statuses = [500, 503, 404]
    server.control.text(CUSTOMER, "hi")
    server.settle()  # first attempt, then the immediate retry
    assert len(receiver.received) == 2
    server.advance(15)
    assert len(receiver.received) == 3
    server.advance(59)
    assert len(receiver.received) == 3  # the next retry waits 60 s
    server.advance(1)
    assert len(receiver.received) == 4
    [delivery] = server.control.deliveries()
    assert delivery["state"] == "delivered"
    assert [a["status"] for a in delivery["attempts"]] == [500, 503, 404, 200]
    assert len({r.body for r in receiver.received}) == 1  # the same bytes every time


def test_redelivery_gives_up_after_seven_days(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    receiver.statuses = [500] * 1000
    server.control.text(CUSTOMER, "hi")
    server.settle()
    for _ in range(7 * 24 + 1):
        server.advance(3600)
    [delivery] = server.control.deliveries()
    assert delivery["state"] == "dropped"
    attempts = [a["at"] for a in delivery["attempts"]]
    assert attempts[-1] - attempts[0] <= 7 * 24 * 3600
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[:4] == sorted(gaps[:4])  # less and less often
    receiver.statuses = []


def test_duplicate_and_wrong_signature_faults(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    server.control.add_fault("webhook", "duplicate", count=1)
    server.control.text(CUSTOMER, "one")
    server.settle()
    assert len(receiver.received) == 2
    assert receiver.received[0].body == receiver.received[1].body
    server.control.add_fault("webhook", "wrong_signature", count=1)
    server.control.text(CUSTOMER, "two")
    server.settle()
    assert receiver.received[-1].valid is False
    server.control.text(CUSTOMER, "three")
    server.settle()
    assert receiver.received[-1].valid is True


def test_out_of_order_fault_reverses_and_holds_back_a_batch(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    server.control.text(CUSTOMER, "hi")
    server.settle()
    before = len(receiver.received)
    server.control.add_fault("webhook", "out_of_order", count=1)
    first = send(graph, "text", {"body": "1"}).json()["messages"][0]["id"]
    second = send(graph, "text", {"body": "2"}).json()["messages"][0]["id"]
    server.settle()
    assert receiver.received[before:] == []  # held back
    server.advance(1)  # `delivered` is due after 1 s; the `sent` batch is held for 2 s
    server.advance(1)
    seen = receiver.statuses_seen()
    assert [w for w, s in seen if s == "sent"] == [second, first]  # reversed inside the batch
    assert seen.index((first, "delivered")) < seen.index((first, "sent"))  # and overtaken


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("http_500", 500, 131000), ("http_503", 503, 131016), ("http_429", 429, 130429)],
)
def test_api_error_faults(
    graph: httpx.Client, server: EmulatorServer, kind: str, status: int, code: int
) -> None:
    server.control.add_fault("messages", kind, count=1)
    faulty = send(graph, "text", {"body": "x"})
    assert faulty.status_code == status
    assert faulty.json()["error"]["code"] == code
    assert send(graph, "text", {"body": "x"}).status_code == 200


def test_malformed_slow_and_targeted_faults(graph: httpx.Client, server: EmulatorServer) -> None:
    server.control.add_fault("messages", "malformed", count=1)
    broken = send(graph, "text", {"body": "x"})
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    server.control.add_fault("messages", "slow", delay=0.01, to="16505550001")
    assert send(graph, "text", {"body": "x"}, to="16505550001").status_code == 200
    assert server.control.faults()[1]["fired"] == 1
    send(graph, "text", {"body": "x"}, to="16505550002")
    assert server.control.faults()[1]["fired"] == 1  # other recipients untouched
    server.control.clear_faults()
    assert server.control.faults() == []


def test_fault_probability_is_deterministic_for_a_seed(graph: httpx.Client, server: EmulatorServer) -> None:
    server.control.add_fault("messages", "http_500", probability=0.5)
    outcomes = [send(graph, "text", {"body": "x"}, to=f"1650555{i:04d}").status_code for i in range(40)]
    assert 5 < outcomes.count(500) < 35
    config = default_config().with_behaviour(time_scale=0.0)
    with EmulatorServer(config) as again, again.graph_client() as other:
        again.control.add_fault("messages", "http_500", probability=0.5)
        repeat = [send(other, "text", {"body": "x"}, to=f"1650555{i:04d}").status_code for i in range(40)]
    assert repeat == outcomes


def test_fault_rules_are_validated(server: EmulatorServer) -> None:
    from emulator.client import ControlError

    with pytest.raises(ControlError):
        server.control.add_fault("webhook", "http_500")
    with pytest.raises(ControlError):
        server.control.add_fault("messages", "explode")
