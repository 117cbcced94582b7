"""POST /{phone-number-id}/messages: every type, field validation, and Meta's error shapes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator.testing import EmulatorServer, WebhookReceiver
from emulator.tests.conftest import CUSTOMER, PHONE, error_code, send, status_items, statuses_for

VALID: dict[str, Any] = {
    "text": {"body": "Hello https://example.com", "preview_url": True},
    "image": {"link": "https://example.com/a.jpg", "caption": "pic"},
    "video": {"link": "https://example.com/a.mp4"},
    "audio": {"link": "https://example.com/a.ogg", "voice": True},
    "document": {"link": "https://example.com/a.pdf", "filename": "a.pdf", "caption": "doc"},
    "sticker": {"link": "https://example.com/a.webp"},
    "location": {"latitude": 51.5, "longitude": -0.12, "name": "Office", "address": "1 Road"},
    "contacts": [
        {
            "name": {"formatted_name": "Jane Doe", "first_name": "Jane"},
            "phones": [{"phone": "+1 650 555 0100", "type": "CELL", "wa_id": "16505550100"}],
            "birthday": "1990-01-31",
        }
    ],
    "interactive": {
        "type": "button",
        "body": {"text": "Pick one"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "a", "title": "Yes"}},
                {"type": "reply", "reply": {"id": "b", "title": "No"}},
            ]
        },
    },
}
INTERACTIVE_VARIANTS: dict[str, Any] = {
    "list": {
        "type": "list",
        "header": {"type": "text", "text": "Menu"},
        "body": {"text": "Choose"},
        "footer": {"text": "f"},
        "action": {
            "button": "Options",
            "sections": [{"title": "S", "rows": [{"id": "r1", "title": "Row 1", "description": "d"}]}],
        },
    },
    "cta_url": {
        "type": "cta_url",
        "body": {"text": "Visit"},
        "action": {"name": "cta_url", "parameters": {"display_text": "Open", "url": "https://x.test"}},
    },
    "flow": {
        "type": "flow",
        "body": {"text": "Book"},
        "action": {
            "name": "flow",
            "parameters": {
                "flow_message_version": "3",
                "flow_id": "123",
                "flow_cta": "Book now",
                "flow_action": "navigate",
                "flow_action_payload": {"screen": "A"},
            },
        },
    },
}


def open_window(server: EmulatorServer, wa_id: str = CUSTOMER) -> str:
    item: str = server.control.text(wa_id, "hi")["id"]
    return item


@pytest.mark.parametrize("message_type", sorted(VALID))
def test_every_free_form_type_is_accepted_and_reaches_the_customer(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver, message_type: str
) -> None:
    open_window(server)
    response = send(graph, message_type, VALID[message_type], to="+1 (650) 555-1234")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["contacts"] == [{"input": "+1 (650) 555-1234", "wa_id": CUSTOMER}]
    wamid = body["messages"][0]["id"]
    assert "message_status" not in body["messages"][0]
    server.advance(5)
    assert statuses_for(receiver, wamid) == ["sent", "delivered", "read"]
    received = server.control.received(CUSTOMER)
    assert received[-1]["id"] == wamid
    assert received[-1]["type"] == message_type


@pytest.mark.parametrize("variant", sorted(INTERACTIVE_VARIANTS))
def test_interactive_variants_are_accepted(server: EmulatorServer, graph: httpx.Client, variant: str) -> None:
    open_window(server)
    assert send(graph, "interactive", INTERACTIVE_VARIANTS[variant]).status_code == 200


@pytest.mark.parametrize(
    ("message_type", "payload", "code"),
    [
        ("text", {}, 131008),
        ("text", {"body": "x" * 4097}, 131009),
        ("text", {"body": "hi", "colour": "red"}, 100),
        ("image", {"caption": "no media"}, 131008),
        ("image", {"id": "1", "link": "https://x.test/a.jpg"}, 100),
        ("image", {"link": "https://x.test/a.jpg", "caption": "c" * 1025}, 131009),
        ("audio", {"link": "ftp://x.test/a.ogg"}, 131009),
        ("location", {"latitude": 91, "longitude": 0}, 131009),
        ("location", {"longitude": 0}, 131008),
        ("contacts", [], 100),
        ("contacts", [{"name": {"first_name": "x"}}], 131008),
        ("reaction", {"message_id": "wamid.x"}, 131008),
        ("interactive", {"type": "button", "body": {"text": "b"}, "action": {"buttons": []}}, 131009),
        (
            "interactive",
            {
                "type": "button",
                "body": {"text": "b"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "x" * 21}}]},
            },
            131009,
        ),
        (
            "interactive",
            {
                "type": "list",
                "body": {"text": "b"},
                "action": {
                    "button": "B",
                    "sections": [{"rows": [{"id": str(i), "title": "t"} for i in range(11)]}],
                },
            },
            131009,
        ),
        ("interactive", {"type": "carousel_of_doom", "action": {}}, 100),
        (
            "interactive",
            {
                "type": "cta_url",
                "body": {"text": "b"},
                "action": {
                    "name": "cta_url",
                    "parameters": {"display_text": "x" * 21, "url": "https://x.test"},
                },
            },
            131009,
        ),
        ("template", {"name": "x"}, 131008),
    ],
)
def test_invalid_fields_fail_synchronously_in_metas_shape(
    graph: httpx.Client, message_type: str, payload: Any, code: int
) -> None:
    response = send(graph, message_type, payload)
    assert response.status_code in (400, 404)
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"].startswith(f"(#{code})")
    assert error["type"] == "OAuthException"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["fbtrace_id"]


def test_envelope_errors(graph: httpx.Client) -> None:
    no_product = graph.post(
        f"/{PHONE}/messages", json={"to": CUSTOMER, "type": "text", "text": {"body": "x"}}
    )
    assert error_code(no_product) == 131008
    wrong_product = graph.post(
        f"/{PHONE}/messages", json={"messaging_product": "sms", "to": CUSTOMER, "text": {"body": "x"}}
    )
    assert error_code(wrong_product) == 100
    no_object = graph.post(
        f"/{PHONE}/messages", json={"messaging_product": "whatsapp", "to": CUSTOMER, "type": "image"}
    )
    assert error_code(no_object) == 131008
    bad_json = graph.post(
        f"/{PHONE}/messages", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert error_code(bad_json) == 100
    to_self = send(graph, "text", {"body": "x"}, to="15550783881")
    assert error_code(to_self) == 131021


def test_tokens_and_unknown_objects(server: EmulatorServer, graph: httpx.Client) -> None:
    with server.graph_client(token="wrong") as bad:
        response = send(bad, "text", {"body": "x"})
    assert response.status_code == 401
    assert error_code(response) == 190
    with server.graph_client(token="") as anonymous:
        assert error_code(send(anonymous, "text", {"body": "x"})) == 190
    unknown = graph.post(
        "/999/messages", json={"messaging_product": "whatsapp", "to": CUSTOMER, "text": {"body": "x"}}
    )
    assert error_code(unknown) == 100
    assert unknown.json()["error"]["error_subcode"] == 33
    server.control.expire_token("EMULATOR-ACCESS-TOKEN")
    expired = send(graph, "text", {"body": "x"})
    assert error_code(expired) == 190
    assert expired.json()["error"]["error_subcode"] == 463


def test_outside_the_window_free_form_fails_with_131047(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    wamid = send(graph, "text", {"body": "hello?"}).json()["messages"][0]["id"]
    server.settle()
    [failed] = status_items(receiver, wamid)
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131047
    open_window(server)
    server.advance(24 * 3600 + 1)  # the window closes 24 h after the customer's last message
    late = send(graph, "text", {"body": "too late"}).json()["messages"][0]["id"]
    server.settle()
    assert statuses_for(receiver, late) == ["failed"]


def test_window_inside_is_free_and_priced_as_service(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    open_window(server)
    wamid = send(graph, "text", {"body": "hi"}, biz_opaque_callback_data="ref-1").json()["messages"][0]["id"]
    server.advance(5)
    items = status_items(receiver, wamid)
    assert all(i["biz_opaque_callback_data"] == "ref-1" for i in items)
    assert all(isinstance(i["timestamp"], str) for i in items)
    assert items[0]["pricing"] == {
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_customer_service",
        "category": "service",
    }


def test_mark_as_read_and_typing_indicator(server: EmulatorServer, graph: httpx.Client) -> None:
    inbound = open_window(server)
    read = graph.post(
        f"/{PHONE}/messages", json={"messaging_product": "whatsapp", "status": "read", "message_id": inbound}
    )
    assert read.json() == {"success": True}
    typing = graph.post(
        f"/{PHONE}/messages",
        json={
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": inbound,
            "typing_indicator": {"type": "text"},
        },
    )
    assert typing.json() == {"success": True}
    unknown = graph.post(
        f"/{PHONE}/messages",
        json={"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.nope"},
    )
    assert error_code(unknown) == 100


def test_marking_read_turns_that_message_and_earlier_ones_read_on_the_customers_phone(
    server: EmulatorServer, graph: httpx.Client
) -> None:
    first = open_window(server)
    server.advance(1)
    second = server.control.text(CUSTOMER, "still there?")["id"]
    server.advance(1)
    later = server.control.text(CUSTOMER, "hello?")["id"]
    other = server.control.text("16505550000", "someone else")["id"]
    assert server.control.read_by_business(CUSTOMER) == []
    typing_only = {
        "messaging_product": "whatsapp",
        "message_id": second,
        "typing_indicator": {"type": "text"},
    }
    assert graph.post(f"/{PHONE}/messages", json=typing_only).json() == {"success": True}
    assert server.control.read_by_business(CUSTOMER) == []  # typing dots are not a read receipt
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": second}
    assert graph.post(f"/{PHONE}/messages", json=read).json() == {"success": True}
    assert server.control.read_by_business(CUSTOMER) == sorted([first, second])
    assert later not in server.control.read_by_business(CUSTOMER)
    assert server.control.read_by_business("16505550000") == [] and other


def test_reactions_get_only_sent_and_bad_targets_fail_with_131009(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    inbound = open_window(server)
    good = send(graph, "reaction", {"message_id": inbound, "emoji": "👍"}).json()["messages"][0]["id"]
    bad = send(graph, "reaction", {"message_id": "wamid.unknown", "emoji": "👍"}).json()["messages"][0]["id"]
    server.advance(10)
    assert statuses_for(receiver, good) == ["sent"]
    [failed] = status_items(receiver, bad)
    assert failed["errors"][0]["code"] == 131009


def test_blocked_or_absent_customers_fail_with_131026(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    open_window(server)
    server.control.block(CUSTOMER, PHONE)
    blocked = send(graph, "text", {"body": "hi"}).json()["messages"][0]["id"]
    server.control.update_customer("16505550000", on_whatsapp=False)
    absent = send(graph, "text", {"body": "hi"}, to="16505550000").json()["messages"][0]["id"]
    server.settle()
    assert status_items(receiver, blocked)[0]["errors"][0]["code"] == 131026
    assert status_items(receiver, absent)[0]["errors"][0]["code"] == 131026


def test_throughput_bucket_returns_130429_and_refills(server: EmulatorServer, graph: httpx.Client) -> None:
    codes = [send(graph, "text", {"body": "x"}, to=f"1650555{i:04d}").status_code for i in range(81)]
    assert codes[:80] == [200] * 80
    assert codes[80] == 400
    assert error_code(send(graph, "text", {"body": "x"}, to="16505559999")) == 130429
    server.advance(1)
    assert send(graph, "text", {"body": "x"}, to="16505559999").status_code == 200


def test_inbound_messages_use_the_numbers_throughput(server: EmulatorServer, graph: httpx.Client) -> None:
    for index in range(80):
        server.control.text(f"1650555{index:04d}", "hi")
    assert error_code(send(graph, "text", {"body": "x"}, to="16505550001")) == 130429


def test_pair_rate_limit_allows_a_burst_of_45_then_131056(
    server: EmulatorServer, graph: httpx.Client
) -> None:
    server.control.set_phone(PHONE, throughput="HIGH")
    open_window(server)
    codes = [send(graph, "text", {"body": str(i)}).status_code for i in range(45)]
    assert codes == [200] * 45
    assert error_code(send(graph, "text", {"body": "one too many"})) == 131056
    server.advance(6)  # one message per 6 s to the same user
    assert send(graph, "text", {"body": "after 6 s"}).status_code == 200
    assert error_code(send(graph, "text", {"body": "again"})) == 131056


def test_inbound_only_types_fail_asynchronously_with_131051(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    open_window(server)
    wamid = send(graph, "order", {"catalog_id": "1", "product_items": []}).json()["messages"][0]["id"]
    server.settle()
    assert status_items(receiver, wamid)[0]["errors"][0]["code"] == 131051
    assert error_code(send(graph, "poll", {"question": "?"})) == 100
    weird = graph.post(
        f"/{PHONE}/messages", json={"messaging_product": "whatsapp", "to": CUSTOMER, "type": ["x"]}
    )
    assert error_code(weird) == 100


def test_link_of_the_wrong_file_type_fails_with_131053(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    open_window(server)
    wrong = send(graph, "image", {"link": "https://x.test/report.pdf"}).json()["messages"][0]["id"]
    opaque = send(graph, "image", {"link": "https://cdn.x.test/a/b?sig=1"}).json()["messages"][0]["id"]
    server.advance(5)
    assert status_items(receiver, wrong)[0]["errors"][0]["code"] == 131053
    assert statuses_for(receiver, opaque) == ["sent", "delivered", "read"]


def test_unknown_media_id_fails_asynchronously_with_131053(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    open_window(server)
    wamid = send(graph, "image", {"id": "123456"}).json()["messages"][0]["id"]
    server.settle()
    assert status_items(receiver, wamid)[0]["errors"][0]["code"] == 131053
