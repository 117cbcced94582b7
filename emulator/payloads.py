"""Builders for the webhook JSON Meta sends (REFERENCE §3): envelopes, statuses, inbound messages."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from emulator.errors import webhook_error

if TYPE_CHECKING:
    from emulator.templates import Template


def envelope(waba_id: str, field: str, value: dict[str, Any], time: int | None = None) -> dict[str, Any]:
    """`entry[].time` appears on non-`messages` fields only, as an integer."""
    entry: dict[str, Any] = {"id": waba_id, "changes": [{"value": value, "field": field}]}
    if time is not None:
        entry["time"] = time
    return {"object": "whatsapp_business_account", "entry": [entry]}


def metadata(display_phone_number: str, phone_number_id: str) -> dict[str, str]:
    return {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id}


def messages_value(
    meta: dict[str, str], key: str, items: list[dict[str, Any]], contacts: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": meta}
    if contacts:
        value["contacts"] = contacts
    value[key] = items
    return value


def contact(wa_id: str, name: str) -> dict[str, Any]:
    """The 2026 shape carries a business-scoped user id (BSUID) next to `wa_id`; pywa 4.x requires it."""
    return {"profile": {"name": name}, "wa_id": wa_id, "user_id": bsuid(wa_id)}


def bsuid(wa_id: str) -> str:
    """A stable, opaque-looking business-scoped user id for a wa_id (a multiplicative hash: cheap, and
    distinct wa_ids of up to 20 digits get distinct ids: the multiplier is coprime with 10**20)."""
    number = (
        int(wa_id) if wa_id.isdigit() else int.from_bytes(hashlib.sha256(wa_id.encode()).digest()[:8], "big")
    )
    return f"US.{number * 11400714819323198487 % 10**20:020d}"


def pricing(category: str, free_customer_service: bool, free_entry_point: bool = False) -> dict[str, Any]:
    """Per-message pricing (PMP, since Jul 2025): service and utility inside the window are free, and
    everything is free inside a 72-hour free entry point window."""
    if free_entry_point:
        kind = "free_entry_point"
    elif free_customer_service and category in ("service", "utility"):
        kind = "free_customer_service"
    else:
        kind = "regular"
    return {"billable": kind == "regular", "pricing_model": "PMP", "type": kind, "category": category}


def status(
    wamid: str,
    state: str,
    timestamp: int,
    recipient_id: str,
    *,
    pricing_object: dict[str, Any] | None = None,
    biz_opaque_callback_data: str | None = None,
    error: tuple[int, str] | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "timestamp": str(timestamp),
        "recipient_id": recipient_id,
    }
    if biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = biz_opaque_callback_data
    if pricing_object is not None:
        item["pricing"] = pricing_object
    if error is not None:
        item["errors"] = [webhook_error(*error)]
    return item


def template_status(
    template_id: int,
    name: str,
    language: str,
    category: str,
    event: str,
    reason: str | None,
    *,
    rejection_info: dict[str, str] | None = None,
    other_info: dict[str, str] | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "event": event,
        "message_template_id": template_id,
        "message_template_name": name,
        "message_template_language": language,
        "reason": reason,
        "message_template_category": category,
    }
    if rejection_info is not None:
        value["rejection_info"] = rejection_info
    if other_info is not None:
        value["other_info"] = other_info
    return value


def template_quality(template_id: int, name: str, language: str, previous: str, new: str) -> dict[str, Any]:
    return {
        "previous_quality_score": previous,
        "new_quality_score": new,
        "message_template_id": template_id,
        "message_template_name": name,
        "message_template_language": language,
    }


def template_category(template_id: int, name: str, language: str, previous: str, new: str) -> dict[str, Any]:
    return {
        "message_template_id": template_id,
        "message_template_name": name,
        "message_template_language": language,
        "previous_category": previous,
        "new_category": new,
    }


def user_preference(wa_id: str, value: str, timestamp: int) -> dict[str, Any]:
    detail = {
        "stop": "User requested to stop marketing messages",
        "resume": "User requested to resume marketing messages",
    }.get(value, "User signed up for marketing messages")
    return {
        "wa_id": wa_id,
        "detail": detail,
        "category": "marketing_messages",
        "value": value,
        "timestamp": timestamp,
    }


def template_components(template: Template) -> dict[str, Any]:
    """`message_template_components_update` after an edit is approved."""
    value: dict[str, Any] = {
        "message_template_id": int(template.id),
        "message_template_name": template.name,
        "message_template_language": template.language,
    }
    for component in template.components:
        kind = component["type"]
        if kind == "BODY":
            value["message_template_element"] = str(component.get("text", ""))
        elif kind == "HEADER" and component.get("format", "TEXT") == "TEXT":
            value["message_template_title"] = str(component.get("text", ""))
        elif kind == "FOOTER":
            value["message_template_footer"] = str(component.get("text", ""))
        elif kind == "BUTTONS":
            value["message_template_buttons"] = [
                {
                    "message_template_button_type": str(b.get("type", "")).upper(),
                    "message_template_button_text": str(b.get("text", "")),
                }
                for b in component.get("buttons", [])
            ]
    return value
