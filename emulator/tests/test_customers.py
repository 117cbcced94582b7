"""Scripted customers, scenarios, inspection and the less common behaviour knobs."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from emulator.client import ControlError
from emulator.config import DEFAULT_APP_SECRET, default_config
from emulator.inbound import INBOUND_KINDS
from emulator.testing import EmulatorServer, WebhookReceiver
from emulator.tests.conftest import CUSTOMER, PHONE, WABA, error_code, send, status_items, statuses_for

PARAMS: dict[str, dict[str, Any]] = {
    "button_reply": {"id": "y", "title": "Yes", "reply_to": "wamid.x"},
    "list_reply": {"id": "r", "title": "Row", "reply_to": "wamid.x"},
    "flow_reply": {"reply_to": "wamid.x"},
    "button": {"payload": "STOP", "reply_to": "wamid.x"},
    "reaction": {"message_id": "wamid.x", "emoji": "❤"},
    "system": {"new_wa_id": "16505550042"},
    "revoke": {"original_message_id": "wamid.x"},
    "edit": {"original_message_id": "wamid.x", "body": "fixed"},
}
OPENS_WINDOW = {"system", "identity_change", "reaction", "revoke", "edit"}


@pytest.mark.parametrize("kind", INBOUND_KINDS)
def test_each_inbound_kind_reaches_the_webhook(
    server: EmulatorServer, receiver: WebhookReceiver, kind: str
) -> None:
    item = server.control.customer_sends(CUSTOMER, kind, **PARAMS.get(kind, {}))
    server.settle()
    assert receiver.messages_seen() == [item]
    state = server.control.customer("16505550042" if kind == "system" else CUSTOMER)
    assert state["window_open"].get(PHONE, False) is (kind not in OPENS_WINDOW)


def test_unknown_kind_and_missing_params_are_control_errors(server: EmulatorServer) -> None:
    with pytest.raises(ControlError, match="unknown inbound kind"):
        server.control.customer_sends(CUSTOMER, "hologram")
    with pytest.raises(ControlError):
        server.control.customer_sends(CUSTOMER, "button_reply")


def test_inbound_message_resets_the_window(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    server.control.text(CUSTOMER, "hi")
    server.advance(23 * 3600)
    server.control.text(CUSTOMER, "still there?")
    server.advance(23 * 3600)  # 46 h after the first message, 23 h after the last
    wamid = send(graph, "text", {"body": "yes"}).json()["messages"][0]["id"]
    server.advance(5)
    assert statuses_for(receiver, wamid) == ["sent", "delivered", "read"]


def test_customer_that_does_not_auto_read_reads_on_demand(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    server.control.update_customer(CUSTOMER, auto_read=False, name="Ann")
    server.control.text(CUSTOMER, "hi")
    wamid = send(graph, "text", {"body": "yo"}).json()["messages"][0]["id"]
    server.advance(60)
    assert statuses_for(receiver, wamid) == ["sent", "delivered"]
    assert server.control.read_all(CUSTOMER) == 1
    server.settle()
    assert statuses_for(receiver, wamid) == ["sent", "delivered", "read"]
    assert receiver.payloads[-1]["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] == "Ann"


def test_click_to_whatsapp_ad_opens_a_free_72_hour_window(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    server.control.customer_sends(CUSTOMER, "referral", body="Saw your ad")
    server.advance(48 * 3600)  # past 24 h, inside 72 h
    wamid = send(graph, "text", {"body": "still free"}).json()["messages"][0]["id"]
    server.advance(5)
    [sent] = [s for s in status_items(receiver, wamid) if s["status"] == "sent"]
    assert sent["pricing"] == {
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_entry_point",
        "category": "service",
    }
    server.advance(24 * 3600)
    late = send(graph, "text", {"body": "too late"}).json()["messages"][0]["id"]
    server.settle()
    assert statuses_for(receiver, late) == ["failed"]


def test_block_and_unblock(server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver) -> None:
    server.control.text(CUSTOMER, "hi")
    assert server.control.block(CUSTOMER, PHONE)["blocked"] == [PHONE]
    blocked = send(graph, "text", {"body": "1"}).json()["messages"][0]["id"]
    server.control.unblock(CUSTOMER, PHONE)
    server.advance(6)
    fine = send(graph, "text", {"body": "2"}).json()["messages"][0]["id"]
    server.advance(5)
    assert statuses_for(receiver, blocked) == ["failed"]
    assert statuses_for(receiver, fine) == ["sent", "delivered", "read"]
    assert [m["id"] for m in server.control.received(CUSTOMER)] == [fine]


def test_number_change_moves_the_customer(server: EmulatorServer, receiver: WebhookReceiver) -> None:
    server.control.text(CUSTOMER, "hi")
    server.control.customer_sends(CUSTOMER, "system", new_wa_id="16505550042", old_wa_id=CUSTOMER)
    server.settle()
    change = receiver.payloads[-1]["entry"][0]["changes"][0]["value"]
    assert "contacts" not in change
    assert change["messages"][0]["system"]["wa_id"] == "16505550042"
    assert server.control.customer("16505550042")["window_open"] == {PHONE: True}


def test_scenarios_are_deterministic_for_a_seed_and_a_start_time() -> None:
    start = 1_780_000_000.5
    spec = {
        "seed": 3,
        "generate_customers": 3,
        "customers": [{"wa_id": "16505550007", "name": "Zoe"}],
        "steps": [
            {"at": 1, "customer": 0, "kind": "text", "body": "hello"},
            {"at": 2, "customer": 0, "action": "preferences", "value": "stop"},
            {"at": 3, "customer": 1, "action": "block"},
        ],
        "random": {"count": 12, "span": 600, "kinds": ["text", "location", "image"]},
    }

    def run() -> tuple[list[Any], list[Any]]:
        receiver = WebhookReceiver(app_secret=DEFAULT_APP_SECRET)
        config = default_config().with_behaviour(time_scale=0.0, start_time=start)
        with EmulatorServer(config, receiver=receiver) as server:
            result = server.control.run_scenario(spec)
            server.advance(601)
            blocked = server.control.customer(result["customers"][1])["blocked"]
            assert blocked == [PHONE]
            assert server.control.customer("16505550007")["marketing_opt_out"] == [WABA]
        messages = [
            {k: v for k, v in m.items() if k not in ("id", "image")} for m in receiver.messages_seen()
        ]
        return result["customers"], messages

    first = run()
    time.sleep(1)  # a second run started later on the wall clock replays the same times
    second = run()
    assert first == second
    assert len(first[1]) == 13
    assert first[1][0]["text"] == {"body": "hello"}
    assert {m["timestamp"] for m in first[1]} == {str(int(start) + 601)}  # all ran at the advance


def test_scenario_errors_are_reported(server: EmulatorServer) -> None:
    with pytest.raises(ControlError):
        server.control.run_scenario({"phone_number_id": "nope"})


def test_inspection_views(server: EmulatorServer, graph: httpx.Client) -> None:
    server.control.text(CUSTOMER, "hi")
    send(graph, "text", {"body": "x"})
    server.settle()
    state = server.control.state()
    assert state["counts"]["messages"] == 1
    assert state["accounts"][0]["phone_numbers"][0]["id"] == PHONE
    assert server.control.messages(to=CUSTOMER)[0]["payload"] == {"body": "x"}
    deliveries = server.control.deliveries(state="delivered")
    assert deliveries[0]["body"]["object"] == "whatsapp_business_account"
    phone = graph.get(f"/{PHONE}", params={"fields": "throughput"}).json()
    assert phone == {"id": PHONE, "throughput": {"level": "STANDARD"}}
    assert graph.get(f"/{PHONE}").json()["quality_rating"] == "GREEN"
    assert server.control.templates() == []
    unknown = server.control.http.get("/_emulator/nothing-here")
    assert unknown.status_code == 404


def test_waba_edges(graph: httpx.Client) -> None:
    numbers = graph.get(f"/{WABA}/phone_numbers").json()["data"]
    assert [(n["id"], n["display_phone_number"]) for n in numbers] == [(PHONE, "15550783881")]
    assert graph.post(f"/{WABA}/subscribed_apps").json() == {"success": True}
    assert graph.get(f"/{WABA}/subscribed_apps").json()["data"]
    assert graph.get("/999/phone_numbers").json()["error"]["code"] == 100


def test_emit_escape_hatch_sends_any_field(server: EmulatorServer, receiver: WebhookReceiver) -> None:
    server.control.emit("business_capability_update", {"max_daily_conversations_per_business": 1000})
    server.settle()
    change = receiver.payloads[-1]["entry"][0]["changes"][0]
    assert change["field"] == "business_capability_update"


def test_outgoing_schema_validation_flags_bad_emitted_shapes() -> None:
    config = default_config().with_behaviour(time_scale=0.0, validate_outgoing_webhooks=True)
    with EmulatorServer(config, receiver=WebhookReceiver(app_secret=DEFAULT_APP_SECRET)) as server:
        server.control.text(CUSTOMER, "hi")
        server.control.emit("message_template_status_update", {"event": "APPROVED"})
        server.settle()
        good, bad = server.control.deliveries()
        assert good["schema_errors"] == []
        assert "$.entry[0].changes[0].value: missing message_template_id" in bad["schema_errors"]


def test_skip_delivered_and_throughput_upgrade_maintenance() -> None:
    config = default_config().with_behaviour(
        time_scale=0.0, skip_delivered_probability=1.0, throughput_upgrade_seconds=60.0
    )
    receiver = WebhookReceiver(app_secret=DEFAULT_APP_SECRET)
    with EmulatorServer(config, receiver=receiver) as server, server.graph_client() as graph:
        server.control.text(CUSTOMER, "hi")
        wamid = send(graph, "text", {"body": "x"}).json()["messages"][0]["id"]
        server.advance(5)
        assert statuses_for(receiver, wamid) == ["sent", "read"]
        server.control.set_phone(PHONE, throughput="HIGH")
        assert error_code(send(graph, "text", {"body": "x"})) == 131057
        server.advance(60)
        assert send(graph, "text", {"body": "x"}).status_code == 200
        events = [
            c["value"]["event"]
            for p in receiver.payloads
            for e in p["entry"]
            for c in e["changes"]
            if c["field"] == "phone_number_quality_update"
        ]
        assert events == ["THROUGHPUT_UPGRADE"]


def test_template_messages_render_json_safely(server: EmulatorServer, graph: httpx.Client) -> None:
    server.control.text(CUSTOMER, "hi")
    send(graph, "text", {"body": 'quotes " and emoji 😀 and \\ backslash'})
    server.advance(5)
    assert json.dumps(server.control.received(CUSTOMER))
