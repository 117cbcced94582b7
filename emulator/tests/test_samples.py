"""Fidelity: Meta's published samples fit the schema the emulator emits; the emulator emits each shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.config import DEFAULT_APP_SECRET, default_config
from emulator.schema import error_object_errors, webhook_errors
from emulator.templates import TemplateCategory, check_structure, normalize_components
from emulator.testing import EmulatorServer, WebhookReceiver
from emulator.tests.conftest import CUSTOMER, PHONE, WABA, approved_template, send
from emulator.validation import validate_template_send

# Verbatim copies of shared/cloudapi/samples (provenance in samples/SOURCES.md).
SAMPLES = Path(__file__).parent / "samples"
ALL = sorted(p for p in SAMPLES.glob("*.json"))
WEBHOOKS = [
    p
    for p in ALL
    if "error_object" not in p.name and "template_create" not in p.name and "template_object" not in p.name
]


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def test_samples_are_present() -> None:
    assert len(WEBHOOKS) >= 50


@pytest.mark.parametrize("path", WEBHOOKS, ids=lambda p: p.stem)
def test_every_webhook_sample_fits_the_schema(path: Path) -> None:
    assert webhook_errors(load(path)) == []


@pytest.mark.parametrize("path", [p for p in ALL if "error_object" in p.name], ids=lambda p: p.stem)
def test_error_object_samples_fit_the_schema(path: Path) -> None:
    assert error_object_errors(load(path)) == []


@pytest.mark.parametrize("path", [p for p in ALL if "template_create" in p.name], ids=lambda p: p.stem)
def test_template_definition_samples_pass_the_creation_rules(path: Path) -> None:
    sample = load(path)
    check_structure(normalize_components(sample["components"]), TemplateCategory(sample["category"]))


def test_template_send_object_sample_passes_send_validation() -> None:
    validate_template_send(load(SAMPLES / "whatsapp-nodejs-sdk__template_object_example.json"))


def test_schema_rejects_broken_payloads() -> None:
    good = load(SAMPLES / "pywa__message_status__sent.json")
    broken = json.loads(json.dumps(good))
    broken["entry"][0]["changes"][0]["value"]["statuses"][0]["timestamp"] = 1698266945  # must be a string
    assert webhook_errors(broken)
    no_body = json.loads(json.dumps(load(SAMPLES / "pywa__message__text.json")))
    del no_body["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"]
    assert webhook_errors(no_body)


def shapes(payload: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(field, value key, type/status/event) of every update — what makes two webhooks the same shape."""
    found: set[tuple[str, str, str]] = set()
    for entry in payload["entry"]:
        for change in entry["changes"]:
            value = change["value"]
            keys = [k for k in ("messages", "statuses", "user_preferences") if k in value]
            for key in keys:
                for item in value[key]:
                    kind = item.get("type") or item.get("status") or item.get("value")
                    if key == "messages" and kind == "interactive" and "interactive" in item:
                        kind = item["interactive"]["type"]
                    found.add((change["field"], key, str(kind)))
            if not keys:
                found.add((change["field"], "", str(value.get("event", ""))))
    return found


Action = Callable[[EmulatorServer, httpx.Client], object]


def customer(kind: str, **params: Any) -> Action:
    return lambda server, graph: server.control.customer_sends(CUSTOMER, kind, **params)


def business_text(server: EmulatorServer, graph: httpx.Client) -> None:
    server.control.text(CUSTOMER, "hi")
    send(graph, "text", {"body": "hello"}, biz_opaque_callback_data="tracker")
    server.advance(5)


def business_failed(server: EmulatorServer, graph: httpx.Client) -> None:
    send(graph, "text", {"body": "outside the window"})


def voice_played(server: EmulatorServer, graph: httpx.Client) -> None:
    server.control.text(CUSTOMER, "hi")
    wamid = send(graph, "audio", {"link": "https://x.test/v.ogg", "voice": True}).json()["messages"][0]["id"]
    server.advance(5)
    server.control.play(CUSTOMER, wamid)


def template_created(text: str) -> Action:
    def act(server: EmulatorServer, graph: httpx.Client) -> None:
        graph.post(
            f"/{WABA}/message_templates",
            json={
                "name": "t",
                "language": "en",
                "category": "MARKETING",
                "components": [{"type": "BODY", "text": text}],
            },
        )
        server.advance(60)

    return act


def template_quality(server: EmulatorServer, graph: httpx.Client) -> None:
    template = approved_template(server, graph)
    server.control.template_quality(template["id"], "YELLOW")


def template_category(server: EmulatorServer, graph: httpx.Client) -> None:
    graph.post(
        f"/{WABA}/message_templates",
        json={
            "name": "t",
            "language": "en",
            "category": "UTILITY",
            "allow_category_change": True,
            "components": [{"type": "BODY", "text": "Hi {{1}}, our summer sale is on with 20% off."}],
        },
    )
    server.advance(60)


def template_components(server: EmulatorServer, graph: httpx.Client) -> None:
    template = approved_template(server, graph)
    graph.post(
        f"/{template['id']}",
        json={
            "components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}} is packed and ready for pickup."}]
        },
    )
    server.advance(60)


def account(event: str, **fields: Any) -> Action:
    return lambda server, graph: server.control.account_event(WABA, event, **fields)


def emit_sample(name: str) -> Action:
    """Shapes outside the emulator's model (Groups API, value-level errors) go out through `emit`."""

    def act(server: EmulatorServer, graph: httpx.Client) -> None:
        value = load(SAMPLES / name)["entry"][0]["changes"][0]["value"]
        server.control.emit("messages", value)

    return act


ACTIONS: dict[str, Action] = {
    "message__text": customer("text", body="hi"),
    "message__image": customer("image", caption="c"),
    "message__media_with_url": customer("image"),
    "message__audio": customer("audio"),
    "message__voice": customer("voice"),
    "message__video": customer("video"),
    "message__document": customer("document"),
    "message__static_sticker": customer("sticker"),
    "message__animated_sticker": customer("sticker", animated=True),
    "message__chosen_location": customer("location", latitude=1.5, longitude=2.5, name="N", address="A"),
    "message__current_location": customer("location", latitude=1.5, longitude=2.5),
    "message__contacts": customer("contacts"),
    "message__forwarded": customer("text", body="fwd", forwarded=True),
    "message__forwarded_many_times": customer("text", body="fwd", forwarded_many_times=True),
    "message__reply": customer("text", body="re", reply_to="wamid.x"),
    "message__reaction": customer("reaction", message_id="wamid.x", emoji="👍"),
    "message__unreaction_empty": customer("reaction", message_id="wamid.x", emoji=""),
    "message__unreaction_no_emoji": customer("reaction", message_id="wamid.x"),
    "message__order": customer("order"),
    "message__referral": customer("referral"),
    "message__unsupported": customer("unsupported"),
    "message__unsupported_with_type": customer("unsupported", original_type="poll_update"),
    "message__interactive_message_with_err": emit_sample("pywa__message__interactive_message_with_err.json"),
    "callback_button__button": customer("button_reply", id="cb", title="Yes", reply_to="wamid.x"),
    "callback_button__quick_reply": customer("button", payload="STOP", reply_to="wamid.x"),
    "callback_button__quick_reply_without_context": customer("button", payload="STOP", reply_to="wamid.x"),
    "callback_selection__callback": customer("list_reply", id="r1", title="Row", reply_to="wamid.x"),
    "callback_selection__description": customer(
        "list_reply", id="r1", title="Row", description="d", reply_to="wamid.x"
    ),
    "deleted_message__revoke": customer("revoke", original_message_id="wamid.x"),
    "edited_message__image": customer("edit", original_message_id="wamid.x", body="edited"),
    "flow_completion__completion": customer("flow_reply", reply_to="wamid.x", response={"a": 1}),
    "flow_completion__without_flow_token": customer("flow_reply", reply_to="wamid.x"),
    "system__identity_change": customer("identity_change"),
    "system__phone_number_change": customer("system", new_wa_id="16505559999", old_wa_id=CUSTOMER),
    "message_status__sent": business_text,
    "message_status__delivered": business_text,
    "message_status__read": business_text,
    "message_status__with_tracker": business_text,
    "webhook_status_delivered_cbp_service": business_text,
    "message_status__failed": business_failed,
    "message_status__played": voice_played,
    "message_status__group": emit_sample("pywa__message_status__group.json"),
    "template_status_update__approved": template_created("Hello {{1}}, thanks for visiting our store today."),
    "webhook_template_status_approved": template_created("Hello {{1}}, thanks for visiting our store today."),
    "template_status_update__rejected": template_created("Hello {{1}}{{2}} thanks for visiting our store."),
    "webhook_template_status_rejected_invalid_format": template_created(
        "Hi {{1}}{{2}} thanks for the visit."
    ),
    "template_quality_update__yellow": template_quality,
    "template_category_update__marketing": template_category,
    "template_components_update__element": template_components,
    "webhook_phone_number_quality_update_throughput": lambda s, g: s.control.set_phone(
        PHONE, throughput="HIGH"
    ),
    "user_marketing_preferences__resume": lambda s, g: s.control.marketing_preference(CUSTOMER, "resume"),
    "user_marketing_preferences__signup": lambda s, g: s.control.marketing_preference(CUSTOMER, "signup"),
    "account_update__account_deleted": account("ACCOUNT_DELETED"),
    "account_update__account_disabled": account("DISABLED_UPDATE"),
    "account_update__account_restriction": account("ACCOUNT_RESTRICTION"),
    "account_update__account_violation": account("ACCOUNT_VIOLATION"),
    "account_update__pricing_tiering_update": account(
        "VOLUME_BASED_PRICING_TIER_UPDATE",
        volume_tier_info={
            "tier_update_time": 1743451903,
            "pricing_category": "UTILITY",
            "tier": "1:100",
            "effective_month": "2025-11",
            "region": "India",
        },
    ),
}


def action_key(path: Path) -> str:
    return path.stem.split("__", 1)[1]


def test_every_webhook_sample_has_an_emulator_action() -> None:
    assert sorted(action_key(p) for p in WEBHOOKS) == sorted(ACTIONS)


@pytest.mark.parametrize("path", WEBHOOKS, ids=lambda p: p.stem)
def test_the_emulator_emits_each_sample_shape(path: Path) -> None:
    receiver = WebhookReceiver(app_secret=DEFAULT_APP_SECRET)
    with (
        EmulatorServer(default_config().with_behaviour(time_scale=0.0), receiver=receiver) as server,
        server.graph_client() as graph,
    ):
        ACTIONS[action_key(path)](server, graph)
        server.settle()
    [wanted] = shapes(load(path))
    matching = [p for p in receiver.payloads if wanted in shapes(p)]
    assert matching, f"no webhook shaped like {wanted}; got {[shapes(p) for p in receiver.payloads]}"
    for payload in matching:
        assert webhook_errors(payload) == []
    assert all(r.valid for r in receiver.received)
