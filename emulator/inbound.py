"""Inbound customer messages in the shape of `messages[]` webhook items (REFERENCE §3)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from emulator.errors import webhook_error

INBOUND_KINDS = (
    "text",
    "image",
    "video",
    "audio",
    "voice",
    "document",
    "sticker",
    "location",
    "contacts",
    "button_reply",
    "list_reply",
    "flow_reply",
    "button",
    "reaction",
    "order",
    "referral",
    "system",
    "identity_change",
    "unsupported",
    "revoke",
    "edit",
)
MEDIA_KINDS = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/mpeg",
    "voice": "audio/ogg",
    "document": "application/pdf",
    "sticker": "image/webp",
}

# (mime, bytes) -> (media id, sha256 base64)
MediaFactory = Callable[[str, bytes, str | None], tuple[str, str]]


def _context(params: dict[str, Any], business_number: str) -> dict[str, Any] | None:
    if params.get("forwarded_many_times"):
        return {"forwarded": True, "frequently_forwarded": True}
    if params.get("forwarded"):
        return {"forwarded": True}
    if params.get("reply_to"):
        return {"from": business_number, "id": str(params["reply_to"])}
    return None


def _media(kind: str, params: dict[str, Any], store: MediaFactory) -> tuple[str, dict[str, Any]]:
    mime = str(params.get("mime_type", MEDIA_KINDS[kind]))
    data = params.get("data", f"emulated {kind} content".encode())
    if isinstance(data, str):
        data = data.encode()
    media_id, sha = store(mime, data, params.get("filename"))
    obj: dict[str, Any] = {"mime_type": mime, "sha256": sha, "id": media_id}
    if kind in ("image", "video", "document") and params.get("caption"):
        obj["caption"] = str(params["caption"])
    if kind == "document":
        obj["filename"] = str(params.get("filename", "document.pdf"))
    if kind == "voice":
        obj["voice"] = True
    if kind == "sticker":
        obj["animated"] = bool(params.get("animated", False))
    wire_type = "audio" if kind == "voice" else kind
    return wire_type, obj


def build_message(
    kind: str,
    params: dict[str, Any],
    *,
    wamid: str,
    wa_id: str,
    timestamp: int,
    business_number: str,
    store: MediaFactory,
) -> dict[str, Any]:
    """One `messages[]` item; raises ValueError for an unknown kind or missing required params."""
    item: dict[str, Any] = {"from": wa_id, "id": wamid, "timestamp": str(timestamp)}
    context = _context(params, business_number)
    if kind in MEDIA_KINDS:
        wire_type, obj = _media(kind, params, store)
        item.update(type=wire_type, **{wire_type: obj})
    else:
        builder = _BUILDERS.get(kind)
        if builder is None:
            raise ValueError(f"unknown inbound kind {kind!r}; expected one of {INBOUND_KINDS}")
        item.update(builder(params, business_number))
        context = item.pop("context", context)
    if context is not None:
        item["context"] = context
    return item


def _text(params: dict[str, Any], _: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": str(params.get("body", ""))}}


def _referral(params: dict[str, Any], _: str) -> dict[str, Any]:
    referral = {
        "source_url": str(params.get("source_url", "https://fb.me/emulated-ad")),
        "source_id": str(params.get("source_id", "120208730000000000")),
        "source_type": "ad",
        "body": str(params.get("ad_body", "Chat with us")),
        "headline": str(params.get("headline", "Emulated ad")),
        "media_type": "image",
        "image_url": str(params.get("image_url", "https://example.invalid/ad.jpg")),
        "ctwa_clid": str(
            params.get(
                "ctwa_clid",
                "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-GABDLOPaOdRMv-_zfUQ2a",
            )
        ),
    }
    return {
        "type": "text",
        "text": {"body": str(params.get("body", "Hi! I saw your ad."))},
        "referral": referral,
    }


def _location(params: dict[str, Any], _: str) -> dict[str, Any]:
    location: dict[str, Any] = {
        "latitude": float(params.get("latitude", 0.0)),
        "longitude": float(params.get("longitude", 0.0)),
    }
    for key in ("name", "address", "url"):
        if key in params:
            location[key] = str(params[key])
    return {"type": "location", "location": location}


def _contacts(params: dict[str, Any], _: str) -> dict[str, Any]:
    contacts = params.get("contacts") or [
        {
            "name": {"formatted_name": "Jane Doe", "first_name": "Jane", "last_name": "Doe"},
            "phones": [{"phone": "+1 650 555 0100", "type": "CELL", "wa_id": "16505550100"}],
        }
    ]
    return {"type": "contacts", "contacts": contacts}


def _button_reply(params: dict[str, Any], business_number: str) -> dict[str, Any]:
    return {
        "type": "interactive",
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": str(params["id"]), "title": str(params["title"])},
        },
        "context": {"from": business_number, "id": str(params["reply_to"])},
    }


def _list_reply(params: dict[str, Any], business_number: str) -> dict[str, Any]:
    reply: dict[str, Any] = {"id": str(params["id"]), "title": str(params["title"])}
    if params.get("description"):
        reply["description"] = str(params["description"])
    return {
        "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": reply},
        "context": {"from": business_number, "id": str(params["reply_to"])},
    }


def _flow_reply(params: dict[str, Any], business_number: str) -> dict[str, Any]:
    response = dict(params.get("response", {}))
    response.setdefault("flow_token", str(params.get("flow_token", "unused")))
    return {
        "type": "interactive",
        "interactive": {
            "type": "nfm_reply",
            "nfm_reply": {"name": "flow", "body": "Sent", "response_json": json.dumps(response)},
        },
        "context": {"from": business_number, "id": str(params["reply_to"])},
    }


def _button(params: dict[str, Any], business_number: str) -> dict[str, Any]:
    return {
        "type": "button",
        "button": {"payload": str(params["payload"]), "text": str(params.get("text", params["payload"]))},
        "context": {"from": business_number, "id": str(params["reply_to"])},
    }


def _reaction(params: dict[str, Any], _: str) -> dict[str, Any]:
    reaction: dict[str, Any] = {"message_id": str(params["message_id"])}
    emoji = params.get("emoji")
    if emoji is not None:
        reaction["emoji"] = str(emoji)  # "" or absent both mean the reaction was removed
    return {"type": "reaction", "reaction": reaction}


def _order(params: dict[str, Any], _: str) -> dict[str, Any]:
    items = params.get("product_items") or [
        {"product_retailer_id": "SKU-1", "quantity": 1, "item_price": 10.5, "currency": "USD"}
    ]
    return {
        "type": "order",
        "order": {
            "catalog_id": str(params.get("catalog_id", "1234567890")),
            "text": str(params.get("text", "")),
            "product_items": items,
        },
    }


def _system(params: dict[str, Any], _: str) -> dict[str, Any]:
    new_wa_id = str(params["new_wa_id"])
    old_wa_id = str(params.get("old_wa_id", ""))
    return {
        "type": "system",
        "system": {
            "body": f"User {params.get('name', 'A')} changed from {old_wa_id} to {new_wa_id}",
            "wa_id": new_wa_id,
            "type": "user_changed_number",
        },
    }


def _identity_change(params: dict[str, Any], _: str) -> dict[str, Any]:
    return {
        "type": "system",
        "system": {
            "body": "User identity changed",
            "type": "customer_identity_changed",
        },
        "identity": {
            "acknowledged": True,
            "created_timestamp": str(params.get("created_timestamp", "0")),
            "hash": str(params.get("hash", "emulatedHash=")),
        },
    }


def _unsupported(params: dict[str, Any], _: str) -> dict[str, Any]:
    return {
        "type": "unsupported",
        "errors": [webhook_error(131051, "Message type is currently not supported.", "Message type unknown")],
        "unsupported": {"type": str(params.get("original_type", "poll_update"))},
    }


def _revoke(params: dict[str, Any], _: str) -> dict[str, Any]:
    return {"type": "revoke", "revoke": {"original_message_id": str(params["original_message_id"])}}


def _edit(params: dict[str, Any], _: str) -> dict[str, Any]:
    return {
        "type": "edit",
        "edit": {
            "original_message_id": str(params["original_message_id"]),
            "message": {"type": "text", "text": {"body": str(params.get("body", ""))}},
        },
    }


_BUILDERS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "text": _text,
    "referral": _referral,
    "location": _location,
    "contacts": _contacts,
    "button_reply": _button_reply,
    "list_reply": _list_reply,
    "flow_reply": _flow_reply,
    "button": _button,
    "reaction": _reaction,
    "order": _order,
    "system": _system,
    "identity_change": _identity_change,
    "unsupported": _unsupported,
    "revoke": _revoke,
    "edit": _edit,
}
