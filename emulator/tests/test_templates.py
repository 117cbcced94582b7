"""Templates: Meta's creation rules, scripted review, sends against templates, quality pauses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator.config import DEFAULT_APP_SECRET, default_config
from emulator.testing import EmulatorServer, WebhookReceiver
from emulator.tests.conftest import (
    CUSTOMER,
    PHONE,
    WABA,
    approved_template,
    error_code,
    send,
    status_items,
    statuses_for,
)

BODY = "Hello {{1}}, your order {{2}} has shipped and is on its way."


def template_events(receiver: WebhookReceiver, field: str) -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = [
        c["value"] for p in receiver.payloads for e in p["entry"] for c in e["changes"] if c["field"] == field
    ]
    return values


def create(graph: httpx.Client, **fields: Any) -> httpx.Response:
    body: dict[str, Any] = {
        "name": "shipping_update",
        "language": "en_US",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": BODY}],
    }
    body.update(fields)
    return graph.post(f"/{WABA}/message_templates", json=body)


def template_send(name: str, params: list[str], language: str = "en_US") -> dict[str, Any]:
    return {
        "name": name,
        "language": {"code": language},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}],
    }


def test_create_is_pending_then_approved_with_a_status_webhook(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    created = create(graph, category="utility")
    assert created.json() == {"id": created.json()["id"], "status": "PENDING", "category": "UTILITY"}
    server.advance(59)
    assert template_events(receiver, "message_template_status_update") == []
    server.advance(1)  # review takes `template_review_after` emulated seconds
    [event] = template_events(receiver, "message_template_status_update")
    assert event["event"] == "APPROVED"
    assert event["reason"] == "NONE"
    assert event["message_template_id"] == int(created.json()["id"])
    assert all(isinstance(p["entry"][0]["time"], int) for p in receiver.payloads)
    fetched = graph.get(f"/{created.json()['id']}", params={"fields": "status"}).json()
    assert fetched == {"status": "APPROVED", "id": created.json()["id"]}


@pytest.mark.parametrize(
    ("fields", "subcode"),
    [
        ({"name": "Bad Name"}, 2388042),
        ({"name": "x" * 513}, 2388042),
        ({"components": [{"type": "BODY", "text": "{{1}} is at the start of this sentence here"}]}, 2388299),
        ({"components": [{"type": "BODY", "text": "This sentence ends with {{1}}"}]}, 2388299),
        ({"components": [{"type": "BODY", "text": "Hi {{1}} {{2}} {{3}} ok"}]}, 2388293),
        ({"components": [{"type": "BODY", "text": "x" * 1025}]}, 2388040),
        (
            {
                "components": [
                    {"type": "HEADER", "format": "TEXT", "text": "h" * 61},
                    {"type": "BODY", "text": "Body text"},
                ]
            },
            2388040,
        ),
        (
            {"components": [{"type": "BODY", "text": "Body text"}, {"type": "FOOTER", "text": "Hi {{1}}"}]},
            2388073,
        ),
        ({"components": [{"type": "HEADER", "format": "TEXT", "text": "no body"}]}, 2388047),
        (
            {
                "components": [
                    {"type": "BODY", "text": "Body"},
                    {
                        "type": "BUTTONS",
                        "buttons": [
                            {"type": "QUICK_REPLY", "text": "a"},
                            {"type": "URL", "text": "u", "url": "https://x.test"},
                            {"type": "QUICK_REPLY", "text": "b"},
                        ],
                    },
                ]
            },
            2388047,
        ),
        (
            {
                "components": [
                    {"type": "BODY", "text": "Body"},
                    {
                        "type": "BUTTONS",
                        "buttons": [{"type": "URL", "text": "u", "url": "https://x.test/{{1}}/path"}],
                    },
                ]
            },
            2388047,
        ),
        (
            {
                "components": [
                    {"type": "BODY", "text": "Body"},
                    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "q" * 26}]},
                ]
            },
            2388040,
        ),
    ],
)
def test_creation_rules_fail_with_code_100_and_metas_subcodes(
    graph: httpx.Client, fields: dict[str, Any], subcode: int
) -> None:
    response = create(graph, **fields)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"]) == (100, subcode)
    assert error["error_user_msg"]


def test_duplicate_name_and_language_is_refused(graph: httpx.Client) -> None:
    assert create(graph).status_code == 200
    duplicate = create(graph)
    assert duplicate.json()["error"]["error_subcode"] == 2388024
    assert create(graph, language="pt_BR").status_code == 200  # same name, another language is fine


@pytest.mark.parametrize(
    ("text", "category", "reason"),
    [
        ("Hello {{1}}{{2}} thanks for shopping with us today.", "UTILITY", "INVALID_FORMAT"),
        ("Hello {{1}}, your order {{3}} has shipped today.", "UTILITY", "INVALID_FORMAT"),
        ("Hello {{1}}, great prices on vodka and cigarettes this week.", "MARKETING", "ABUSIVE_CONTENT"),
        ("Hello {{1}}, please send your password to confirm the order.", "UTILITY", "SCAM"),
        ("Hello {{1}}, big sale today with 50% off everything we have.", "UTILITY", "INCORRECT_CATEGORY"),
    ],
)
def test_review_rejects_with_metas_reasons(
    server: EmulatorServer,
    graph: httpx.Client,
    receiver: WebhookReceiver,
    text: str,
    category: str,
    reason: str,
) -> None:
    created = create(graph, category=category, components=[{"type": "BODY", "text": text}])
    assert created.status_code == 200, created.text
    server.advance(60)
    [event] = template_events(receiver, "message_template_status_update")
    assert (event["event"], event["reason"]) == ("REJECTED", reason)
    assert event["rejection_info"]["reason"]
    assert event["rejection_info"]["recommendation"]
    assert graph.get(f"/{created.json()['id']}").json()["status"] == "REJECTED"


def test_promotional_utility_is_recategorised_when_allowed(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    text = "Hello {{1}}, big sale today with 50% off everything we have."
    created = create(graph, components=[{"type": "BODY", "text": text}], allow_category_change=True)
    server.advance(60)
    [category] = template_events(receiver, "template_category_update")
    assert (category["previous_category"], category["new_category"]) == ("UTILITY", "MARKETING")
    assert graph.get(f"/{created.json()['id']}").json()["category"] == "MARKETING"


def test_listing_is_paginated_with_cursors(graph: httpx.Client) -> None:
    for index in range(5):
        assert create(graph, name=f"tpl_{index}").status_code == 200
    first = graph.get(f"/{WABA}/message_templates", params={"limit": "2", "fields": "name,status"}).json()
    assert [t["name"] for t in first["data"]] == ["tpl_0", "tpl_1"]
    assert set(first["data"][0]) == {"name", "status", "id"}
    assert "next" in first["paging"]
    after = first["paging"]["cursors"]["after"]
    second = graph.get(f"/{WABA}/message_templates", params={"limit": "2", "after": after}).json()
    assert [t["name"] for t in second["data"]] == ["tpl_2", "tpl_3"]
    last = graph.get(first["paging"]["next"].replace("https://graph.facebook.com/v23.0", "")).json()
    assert [t["name"] for t in last["data"]] == ["tpl_2", "tpl_3"]
    filtered = graph.get(f"/{WABA}/message_templates", params={"name": "tpl_4"}).json()
    assert [t["name"] for t in filtered["data"]] == ["tpl_4"]


def test_edit_rules(server: EmulatorServer, graph: httpx.Client) -> None:
    template = approved_template(server, graph)
    change_category = graph.post(f"/{template['id']}", json={"category": "MARKETING"})
    assert change_category.json()["error"]["error_subcode"] == 2388044
    new_body = [{"type": "BODY", "text": "Hi {{1}}, order {{2}} left our warehouse this morning."}]
    assert graph.post(f"/{template['id']}", json={"components": new_body}).json() == {"success": True}
    assert graph.get(f"/{template['id']}").json()["status"] == "PENDING"
    pending_edit = graph.post(f"/{template['id']}", json={"components": new_body})
    assert pending_edit.json()["error"]["code"] == 100
    server.control.review_now(template["id"])
    too_soon = graph.post(f"/{template['id']}", json={"components": new_body})
    assert too_soon.json()["error"]["error_subcode"] == 2388004  # approved: one edit per 24 h
    server.advance(24 * 3600)
    assert graph.post(f"/{template['id']}", json={"components": new_body}).status_code == 200


def test_delete_by_name_blocks_reuse_for_30_days(server: EmulatorServer, graph: httpx.Client) -> None:
    template = approved_template(server, graph)
    deleted = graph.delete(f"/{WABA}/message_templates", params={"name": template["name"]})
    assert deleted.json() == {"success": True}
    assert graph.get(f"/{template['id']}").status_code == 400
    reuse = graph.post(f"/{WABA}/message_templates", json={k: v for k, v in template.items() if k != "id"})
    assert reuse.json()["error"]["error_subcode"] == 2388023
    missing = graph.delete(f"/{WABA}/message_templates", params={"name": "never_existed"})
    assert missing.status_code == 400


def test_template_sends_check_existence_status_and_parameters(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    unknown = send(graph, "template", template_send("nope", ["a", "b"]))
    assert unknown.status_code == 404
    assert error_code(unknown) == 132001
    created = create(graph).json()
    pending = send(graph, "template", template_send("shipping_update", ["a", "b"]))
    assert error_code(pending) == 132001  # not approved yet
    server.control.review_now(created["id"])
    assert error_code(send(graph, "template", template_send("shipping_update", ["a"]))) == 132000
    assert error_code(send(graph, "template", template_send("shipping_update", ["a", "b"], "fr"))) == 132001
    assert error_code(send(graph, "template", template_send("shipping_update", ["a\nb", "c"]))) == 132018
    ok = send(graph, "template", template_send("shipping_update", ["Ann", "42"]))
    assert ok.json()["messages"][0]["message_status"] == "accepted"
    server.advance(5)
    items = status_items(receiver, ok.json()["messages"][0]["id"])
    assert [i["status"] for i in items] == ["sent", "delivered", "read"]
    assert items[0]["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "utility",
    }


def test_named_parameters(server: EmulatorServer, graph: httpx.Client) -> None:
    approved_template(
        server,
        graph,
        name="named_tpl",
        parameter_format="named",
        components=[{"type": "BODY", "text": "Dear {{first_name}}, your table for tonight is ready."}],
    )
    good = {
        "name": "named_tpl",
        "language": {"code": "en_US"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ann"}]}
        ],
    }
    assert send(graph, "template", good).status_code == 200
    bad = {
        **good,
        "components": [
            {"type": "body", "parameters": [{"type": "text", "parameter_name": "last_name", "text": "Ann"}]}
        ],
    }
    assert error_code(send(graph, "template", bad)) == 132000


def test_url_button_variable_must_be_filled(server: EmulatorServer, graph: httpx.Client) -> None:
    approved_template(
        server,
        graph,
        name="track",
        components=[
            {"type": "BODY", "text": "Hello {{1}}, track your parcel with the button below."},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "URL", "text": "Track", "url": "https://x.test/t/{{1}}"},
                    {"type": "QUICK_REPLY", "text": "Stop"},
                ],
            },
        ],
    )
    body = {"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}
    button = {
        "type": "button",
        "sub_type": "url",
        "index": "0",
        "parameters": [{"type": "text", "text": "AB12"}],
    }
    base = {"name": "track", "language": {"code": "en_US"}}
    assert error_code(send(graph, "template", {**base, "components": [body]})) == 132000
    assert send(graph, "template", {**base, "components": [body, button]}).status_code == 200


def test_low_quality_pauses_then_disables(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    template = approved_template(server, graph)
    payload = template_send(template["name"], ["Ann", "42"])
    server.control.template_quality(template["id"], "RED")
    assert error_code(send(graph, "template", payload)) == 132015
    server.advance(3 * 3600)  # first pause lasts 3 h
    assert send(graph, "template", payload).status_code == 200
    server.control.template_quality(template["id"], "RED")
    server.advance(6 * 3600)  # second pause lasts 6 h
    server.control.template_quality(template["id"], "RED")
    assert error_code(send(graph, "template", payload)) == 132016
    server.settle()
    events = [
        (e["event"], (e.get("other_info") or {}).get("title"))
        for e in template_events(receiver, "message_template_status_update")
    ]
    assert events == [
        ("APPROVED", None),
        ("PAUSED", "FIRST_PAUSE"),
        ("APPROVED", "UNPAUSE"),
        ("PAUSED", "SECOND_PAUSE"),
        ("APPROVED", "UNPAUSE"),
        ("DISABLED", "DISABLED"),
    ]
    quality = template_events(receiver, "message_template_quality_update")
    assert quality[0]["new_quality_score"] == "RED"
    assert graph.delete(f"/{WABA}/message_templates", params={"name": template["name"]}).status_code == 400


@pytest.mark.parametrize(("quality", "outcome"), [("GREEN", "delivered"), ("RED", "failed")])
def test_pacing_holds_sends_until_quality_is_known(quality: str, outcome: str) -> None:
    receiver = WebhookReceiver(app_secret=DEFAULT_APP_SECRET)
    config = default_config().with_behaviour(time_scale=0.0, pacing_after=2)
    with EmulatorServer(config, receiver=receiver) as server, server.graph_client() as graph:
        template = approved_template(server, graph)
        payload = template_send(template["name"], ["Ann", "42"])
        answers = [
            send(graph, "template", payload, to=f"1650555000{i}").json()["messages"][0] for i in range(3)
        ]
        assert [a["message_status"] for a in answers] == [
            "accepted",
            "accepted",
            "held_for_quality_assessment",
        ]
        server.advance(5)
        assert statuses_for(receiver, answers[2]["id"]) == []
        server.control.template_quality(template["id"], quality)
        server.advance(5)
        statuses = status_items(receiver, answers[2]["id"])
        assert outcome in [s["status"] for s in statuses]
        if outcome == "failed":
            assert statuses[0]["errors"][0]["code"] == 132015


def test_unpause_endpoint(server: EmulatorServer, graph: httpx.Client) -> None:
    template = approved_template(server, graph)
    server.control.template_quality(template["id"], "RED")
    assert graph.post(f"/{template['id']}/unpause").json() == {"success": True}
    assert graph.get(f"/{template['id']}").json()["status"] == "APPROVED"


def test_marketing_opt_out_per_user_limit_and_tier(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:
    approved_template(
        server,
        graph,
        name="promo",
        category="MARKETING",
        components=[{"type": "BODY", "text": "Hi {{1}}, new arrivals are in store this week."}],
    )
    payload = template_send("promo", ["Ann"])
    server.control.marketing_preference(CUSTOMER, "stop")
    stopped = send(graph, "template", payload).json()["messages"][0]["id"]
    server.control.marketing_preference(CUSTOMER, "resume")
    wamids = [send(graph, "template", payload).json()["messages"][0]["id"] for _ in range(11)]
    server.settle()
    assert status_items(receiver, stopped)[0]["errors"][0]["code"] == 131050
    assert status_items(receiver, wamids[9])[0]["status"] == "sent"
    assert status_items(receiver, wamids[10])[0]["errors"][0]["code"] == 131049  # 10 marketing a day per user
    prefs = [
        i
        for p in receiver.payloads
        for e in p["entry"]
        for c in e["changes"]
        for i in c["value"].get("user_preferences", [])
    ]
    assert [p["value"] for p in prefs] == ["stop", "resume"]


def test_messaging_tier_limits_unique_business_initiated_users(
    server: EmulatorServer, graph: httpx.Client, receiver: WebhookReceiver
) -> None:

    approved_template(server, graph)
    server.control.set_phone(PHONE, messaging_tier="TIER_50", throughput="HIGH")
    payload = template_send("order_update", ["Ann", "42"])
    wamids = [
        send(graph, "template", payload, to=f"1650555{i:04d}").json()["messages"][0]["id"] for i in range(51)
    ]
    again = send(graph, "template", payload, to="16505550000").json()["messages"][0]["id"]  # already reached
    server.settle()
    assert status_items(receiver, wamids[49])[0]["status"] == "sent"
    assert status_items(receiver, wamids[50])[0]["errors"][0]["code"] == 131064
    assert status_items(receiver, again)[0]["status"] == "sent"
    server.advance(24 * 3600)
    later = send(graph, "template", payload, to="16505559999").json()["messages"][0]["id"]
    server.settle()
    assert status_items(receiver, later)[0]["status"] == "sent"
