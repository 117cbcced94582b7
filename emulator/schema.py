"""The webhook schema: one structural description used to check both Meta's published samples and every
payload the emulator sends (extra keys are allowed, since Meta adds fields without notice)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Check = Callable[[Any, str, list[str]], None]


def string(value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, str):
        errors.append(f"{path}: expected string, got {type(value).__name__}")


def digits(value: Any, path: str, errors: list[str]) -> None:
    """Unix seconds as a string, the way `messages`/`statuses` carry timestamps."""
    if not isinstance(value, str) or not value.isdigit():
        errors.append(f"{path}: expected a string of digits, got {value!r}")


def integer(value: Any, path: str, errors: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(f"{path}: expected integer, got {value!r}")


def number(value: Any, path: str, errors: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append(f"{path}: expected number, got {value!r}")


def boolean(value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, bool):
        errors.append(f"{path}: expected boolean, got {value!r}")


def anything(value: Any, path: str, errors: list[str]) -> None:
    return


def nullable(check: Check) -> Check:
    def run(value: Any, path: str, errors: list[str]) -> None:
        if value is not None:
            check(value, path, errors)

    return run


def one_of(*values: str) -> Check:
    def run(value: Any, path: str, errors: list[str]) -> None:
        if value not in values:
            errors.append(f"{path}: {value!r} is not one of {values}")

    return run


def array(item: Check, min_items: int = 0) -> Check:
    def run(value: Any, path: str, errors: list[str]) -> None:
        if not isinstance(value, list):
            errors.append(f"{path}: expected array")
            return
        if len(value) < min_items:
            errors.append(f"{path}: expected at least {min_items} items")
        for index, element in enumerate(value):
            item(element, f"{path}[{index}]", errors)

    return run


@dataclass(frozen=True)
class Obj:
    required: dict[str, Check] = field(default_factory=dict)
    optional: dict[str, Check] = field(default_factory=dict)

    def __call__(self, value: Any, path: str, errors: list[str]) -> None:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected object")
            return
        for key, check in self.required.items():
            if key not in value:
                errors.append(f"{path}: missing {key}")
            else:
                check(value[key], f"{path}.{key}", errors)
        for key, check in self.optional.items():
            if key in value:
                check(value[key], f"{path}.{key}", errors)


WEBHOOK_ERROR = Obj(
    {"code": integer, "title": string},
    {"message": string, "error_data": Obj({"details": string}), "href": string},
)
GRAPH_ERROR = Obj(
    {"message": string, "type": string, "code": integer},
    {"error_subcode": integer, "fbtrace_id": string, "error_data": Obj({}, {"details": string})},
)
METADATA = Obj({"display_phone_number": string, "phone_number_id": string})
CONTACT = Obj({"wa_id": string}, {"profile": Obj({"name": string}), "user_id": string})
MEDIA = Obj(
    {"id": string, "mime_type": string},
    {
        "sha256": string,
        "caption": string,
        "url": string,
        "filename": string,
        "voice": boolean,
        "animated": boolean,
    },
)
CONTEXT = Obj(
    {},
    {
        "from": string,
        "id": string,
        "forwarded": boolean,
        "frequently_forwarded": boolean,
        "referred_product": Obj({"catalog_id": string, "product_retailer_id": string}),
    },
)
REFERRAL = Obj(
    {"source_url": string, "source_type": string},
    {
        "source_id": string,
        "body": string,
        "headline": string,
        "media_type": string,
        "image_url": string,
        "video_url": string,
        "thumbnail_url": string,
        "ctwa_clid": string,
    },
)
SHARED_CONTACT = Obj(
    {"name": Obj({"formatted_name": string})},
    {
        "phones": array(Obj({}, {"phone": string, "wa_id": string, "type": string})),
        "emails": array(Obj({}, {"email": string, "type": string})),
        "urls": array(Obj({}, {"url": string, "type": string})),
        "addresses": array(Obj({})),
        "org": Obj({}),
        "birthday": string,
    },
)
INTERACTIVE = Obj(
    {"type": one_of("button_reply", "list_reply", "nfm_reply")},
    {
        "button_reply": Obj({"id": string, "title": string}),
        "list_reply": Obj({"id": string, "title": string}, {"description": string}),
        "nfm_reply": Obj({"response_json": string}, {"name": string, "body": string}),
    },
)
MESSAGE_PAYLOADS: dict[str, Check] = {
    "text": Obj({"body": string}),
    "image": MEDIA,
    "video": MEDIA,
    "audio": MEDIA,
    "document": MEDIA,
    "sticker": MEDIA,
    "location": Obj(
        {"latitude": number, "longitude": number}, {"name": string, "address": string, "url": string}
    ),
    "contacts": array(SHARED_CONTACT, 1),
    "interactive": INTERACTIVE,
    "button": Obj({"payload": string, "text": string}),
    "reaction": Obj({"message_id": string}, {"emoji": string}),
    "order": Obj(
        {
            "catalog_id": string,
            "product_items": array(Obj({"product_retailer_id": string, "quantity": number})),
        },
        {"text": string},
    ),
    "system": Obj({"type": string}, {"body": string, "wa_id": string, "customer": string}),
    "unsupported": Obj({}, {"type": string}),
    "revoke": Obj({"original_message_id": string}),
    "edit": Obj({"original_message_id": string, "message": Obj({"type": string})}),
}
MESSAGE_BASE = Obj(
    {"from": string, "id": string, "timestamp": digits, "type": string},
    {
        "context": CONTEXT,
        "referral": REFERRAL,
        "errors": array(WEBHOOK_ERROR, 1),
        "identity": Obj({"acknowledged": boolean, "hash": string}),
        "from_user_id": string,
    },
)


def inbound_message(value: Any, path: str, errors: list[str], value_has_errors: bool = False) -> None:
    MESSAGE_BASE(value, path, errors)
    if not isinstance(value, dict):
        return
    kind = value.get("type")
    payload_check = MESSAGE_PAYLOADS.get(str(kind))
    if payload_check is None:
        errors.append(f"{path}.type: unknown message type {kind!r}")
    elif kind in value:
        payload_check(value[kind], f"{path}.{kind}", errors)
    elif kind not in ("unsupported",) and not value_has_errors and "errors" not in value:
        errors.append(f"{path}: type {kind} without a {kind} object or errors")
    if kind == "unsupported" and "errors" not in value:
        errors.append(f"{path}: unsupported messages carry errors")


PRICING = Obj({"billable": boolean, "pricing_model": string, "category": string}, {"type": string})
STATUS = Obj(
    {
        "id": string,
        "status": one_of("sent", "delivered", "read", "failed", "played", "deleted"),
        "timestamp": digits,
        "recipient_id": string,
    },
    {
        "conversation": Obj(
            {"id": string, "origin": Obj({"type": string})}, {"expiration_timestamp": digits}
        ),
        "pricing": PRICING,
        "errors": array(WEBHOOK_ERROR, 1),
        "biz_opaque_callback_data": string,
        "recipient_type": string,
        "recipient_participant_id": string,
    },
)
USER_PREFERENCE = Obj(
    {"wa_id": string, "category": string, "value": one_of("stop", "resume", "signup"), "timestamp": integer},
    {"detail": string},
)


def messages_value(value: Any, path: str, errors: list[str]) -> None:
    Obj(
        {"messaging_product": one_of("whatsapp"), "metadata": METADATA},
        {
            "contacts": array(CONTACT),
            "statuses": array(STATUS, 1),
            "errors": array(WEBHOOK_ERROR, 1),
            "user_preferences": array(USER_PREFERENCE, 1),
        },
    )(value, path, errors)
    if not isinstance(value, dict):
        return
    for index, message in enumerate(value.get("messages", [])):
        inbound_message(message, f"{path}.messages[{index}]", errors, value_has_errors="errors" in value)
    if not any(key in value for key in ("messages", "statuses", "errors", "user_preferences")):
        errors.append(f"{path}: carries none of messages/statuses/errors/user_preferences")


TEMPLATE_REF = {
    "message_template_id": integer,
    "message_template_name": string,
    "message_template_language": string,
}
FIELD_VALUES: dict[str, Check] = {
    "messages": messages_value,
    "user_preferences": messages_value,
    "message_template_status_update": Obj(
        {"event": string, **TEMPLATE_REF, "reason": nullable(string)},
        {
            "message_template_category": string,
            "rejection_info": Obj({"reason": string, "recommendation": string}),
            "other_info": Obj({"title": string}, {"description": string}),
            "disable_info": Obj({}),
        },
    ),
    "message_template_quality_update": Obj(
        {"previous_quality_score": string, "new_quality_score": string, **TEMPLATE_REF}
    ),
    "template_category_update": Obj({**TEMPLATE_REF, "new_category": string}, {"previous_category": string}),
    "message_template_components_update": Obj({**TEMPLATE_REF, "message_template_element": string}),
    "phone_number_quality_update": Obj(
        {"display_phone_number": string, "event": string, "current_limit": string}, {"old_limit": string}
    ),
    "account_update": Obj({"event": string}),
}


def change(value: Any, path: str, errors: list[str]) -> None:
    Obj({"field": string, "value": Obj({})})(value, path, errors)
    if isinstance(value, dict):
        check = FIELD_VALUES.get(str(value.get("field")), Obj({}))
        check(value.get("value"), f"{path}.value", errors)


ENTRY = Obj({"id": string, "changes": array(change, 1)}, {"time": integer})
WEBHOOK = Obj({"object": one_of("whatsapp_business_account"), "entry": array(ENTRY, 1)})


def webhook_errors(payload: Any) -> list[str]:
    """Every way `payload` departs from the webhook schema; an empty list means it conforms."""
    errors: list[str] = []
    WEBHOOK(payload, "$", errors)
    return errors


def error_object_errors(payload: Any) -> list[str]:
    """An error object is either the synchronous Graph `error` or the webhook `errors[]` shape."""
    sync: list[str] = []
    GRAPH_ERROR(payload, "$", sync)
    if not sync:
        return []
    async_errors: list[str] = []
    WEBHOOK_ERROR(payload, "$", async_errors)
    return [] if not async_errors else sync + async_errors
