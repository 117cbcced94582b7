"""Field-by-field validation of `POST /{phone-number-id}/messages` bodies (REFERENCE §1)."""

from __future__ import annotations

import re
from typing import Any

from emulator.errors import GraphError, invalid_parameter, invalid_value, missing_parameter

MESSAGE_TYPES = frozenset(
    {
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "template",
        "reaction",
    }
)
MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
# Types that exist only in the inbound direction: Graph accepts them, then the send fails with 131051.
INBOUND_ONLY_TYPES = frozenset(
    {"order", "system", "unsupported", "button", "revoke", "edit", "request_welcome"}
)
ENVELOPE_KEYS = frozenset(
    {
        "messaging_product",
        "recipient_type",
        "to",
        "type",
        "context",
        "biz_opaque_callback_data",
        "status",
        "message_id",
        "typing_indicator",
        "recipient",
        *MESSAGE_TYPES,
        *INBOUND_ONLY_TYPES,
    }
)
_PHONE_PUNCTUATION = re.compile(r"[\s()+\-.]")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def as_object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_parameter(f"Param {name} must be a JSON object.")
    return value


def check_keys(obj: dict[str, Any], allowed: frozenset[str] | set[str], name: str) -> None:
    for key in obj:
        if key not in allowed:
            raise invalid_parameter(f'Unexpected key "{key}" on param "{name}".')


def required_str(obj: dict[str, Any], key: str, name: str, max_len: int | None = None) -> str:
    if key not in obj or obj[key] is None or obj[key] == "":
        raise missing_parameter(f"{name}.{key}" if name else key)
    return checked_str(obj[key], f"{name}.{key}" if name else key, max_len)


def optional_str(obj: dict[str, Any], key: str, name: str, max_len: int | None = None) -> str | None:
    if key not in obj or obj[key] is None:
        return None
    return checked_str(obj[key], f"{name}.{key}", max_len)


def checked_str(value: Any, name: str, max_len: int | None) -> str:
    if not isinstance(value, str):
        raise invalid_parameter(f"Param {name} must be a string.")
    if max_len is not None and len(value) > max_len:
        raise invalid_value(f"Param {name} must be at most {max_len} characters long.")
    return value


def normalize_phone(raw: Any, business_display_number: str) -> str:
    """Strip punctuation; without '+' or country code Meta prepends the business's country code.

    The emulator cannot know country codes, so it only prepends when the number is clearly local
    (fewer than 10 digits) by borrowing the leading digit(s) of the business number.
    """
    if not isinstance(raw, str):
        raise invalid_parameter("Param to must be a string.")
    digits = _PHONE_PUNCTUATION.sub("", raw)
    if not digits.isdigit() or not 5 <= len(digits) <= 15:
        raise invalid_parameter("Invalid parameter: to is not a valid phone number.")
    if not raw.strip().startswith("+") and len(digits) < 10:
        digits = business_display_number[: max(0, 11 - len(digits))][:3] + digits
    return digits


def validate_envelope(body: dict[str, Any]) -> str:
    """Check the common fields and return the message type."""
    check_keys(body, ENVELOPE_KEYS, "message")
    if body.get("messaging_product") != "whatsapp":
        if "messaging_product" not in body:
            raise missing_parameter("messaging_product")
        raise invalid_parameter("The parameter messaging_product must be set to whatsapp.")
    if body.get("recipient_type", "individual") not in ("individual", "group"):
        raise invalid_parameter("Param recipient_type must be one of {individual, group}.")
    if "to" not in body and "recipient" not in body:
        raise missing_parameter("to")
    message_type = body.get("type", "text")
    if not isinstance(message_type, str) or message_type not in MESSAGE_TYPES | INBOUND_ONLY_TYPES:
        raise invalid_parameter(f"Param type must be one of {{{', '.join(sorted(MESSAGE_TYPES))}}}.")
    if message_type not in body:
        raise missing_parameter(message_type)
    for key in body:
        if key != message_type and (key in MESSAGE_TYPES or key in INBOUND_ONLY_TYPES):
            raise invalid_parameter(f'Unexpected key "{key}" for message of type {message_type}.')
    context = body.get("context")
    if context is not None:
        ctx = as_object(context, "context")
        check_keys(ctx, {"message_id"}, "context")
        required_str(ctx, "message_id", "context")
    optional_str(body, "biz_opaque_callback_data", "", 512)
    return str(message_type)


def validate_payload(message_type: str, payload: Any) -> None:
    if message_type in INBOUND_ONLY_TYPES:
        return  # fails asynchronously with 131051 whatever it contains
    if message_type == "contacts":
        validate_contacts(payload)
        return
    obj = as_object(payload, message_type)
    if message_type in MEDIA_TYPES:
        validate_media(message_type, obj)
        return
    VALIDATORS[message_type](obj)


def validate_text(obj: dict[str, Any]) -> None:
    check_keys(obj, {"body", "preview_url"}, "text")
    required_str(obj, "body", "text", 4096)
    if "preview_url" in obj and not isinstance(obj["preview_url"], bool):
        raise invalid_parameter("Param text.preview_url must be a boolean.")


_MEDIA_KEYS: dict[str, frozenset[str]] = {
    "image": frozenset({"id", "link", "caption"}),
    "video": frozenset({"id", "link", "caption"}),
    "audio": frozenset({"id", "link", "voice"}),
    "document": frozenset({"id", "link", "caption", "filename"}),
    "sticker": frozenset({"id", "link"}),
}


def validate_media(message_type: str, obj: dict[str, Any]) -> None:
    check_keys(obj, _MEDIA_KEYS[message_type], message_type)
    has_id, has_link = bool(obj.get("id")), bool(obj.get("link"))
    if has_id == has_link:
        if not has_id:
            raise missing_parameter(f"{message_type}.id or {message_type}.link")
        raise invalid_parameter(f"Param {message_type} must contain either id or link, not both.")
    if has_link:
        link = checked_str(obj["link"], f"{message_type}.link", 2000)
        if not link.startswith(("http://", "https://")):
            raise invalid_value(f"Param {message_type}.link must be an http(s) URL.")
    optional_str(obj, "caption", message_type, 1024)
    optional_str(obj, "filename", message_type, 240)
    if "voice" in obj and not isinstance(obj["voice"], bool):
        raise invalid_parameter("Param audio.voice must be a boolean.")


def _number(obj: dict[str, Any], key: str, name: str, bound: float) -> None:
    if key not in obj:
        raise missing_parameter(f"{name}.{key}")
    value = obj[key]
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise invalid_parameter(f"Param {name}.{key} must be a number.") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not -bound <= value <= bound:
        raise invalid_value(f"Param {name}.{key} must be a number between -{bound} and {bound}.")


def validate_location(obj: dict[str, Any]) -> None:
    check_keys(obj, {"latitude", "longitude", "name", "address"}, "location")
    _number(obj, "latitude", "location", 90)
    _number(obj, "longitude", "location", 180)
    optional_str(obj, "name", "location", 1000)
    optional_str(obj, "address", "location", 1000)


_CONTACT_KEYS = frozenset({"name", "addresses", "birthday", "emails", "org", "phones", "urls"})
_CONTACT_LISTS: dict[str, frozenset[str]] = {
    "addresses": frozenset({"street", "city", "state", "zip", "country", "country_code", "type"}),
    "emails": frozenset({"email", "type"}),
    "phones": frozenset({"phone", "type", "wa_id"}),
    "urls": frozenset({"url", "type"}),
}


def validate_contacts(contacts: Any) -> None:
    if not isinstance(contacts, list) or not contacts:
        raise invalid_parameter("Param contacts must be a non-empty array.")
    if len(contacts) > 257:
        raise invalid_value("Param contacts must contain at most 257 contacts.")
    for index, raw in enumerate(contacts):
        name = f"contacts[{index}]"
        contact = as_object(raw, name)
        check_keys(contact, _CONTACT_KEYS, name)
        person = as_object(contact.get("name"), f"{name}.name") if "name" in contact else {}
        check_keys(
            person,
            {"formatted_name", "first_name", "last_name", "middle_name", "suffix", "prefix"},
            f"{name}.name",
        )
        required_str(person, "formatted_name", f"{name}.name")
        birthday = optional_str(contact, "birthday", name)
        if birthday is not None and not _DATE.match(birthday):
            raise invalid_value(f"Param {name}.birthday must be YYYY-MM-DD.")
        for list_key, allowed in _CONTACT_LISTS.items():
            items = contact.get(list_key) or []  # Graph treats null like an absent field
            if not isinstance(items, list):
                raise invalid_parameter(f"Param {name}.{list_key} must be an array.")
            for item_index, item in enumerate(items):
                check_keys(as_object(item, f"{name}.{list_key}"), allowed, f"{name}.{list_key}[{item_index}]")
        if contact.get("org") is not None:
            check_keys(
                as_object(contact["org"], f"{name}.org"), {"company", "department", "title"}, f"{name}.org"
            )


def validate_reaction(obj: dict[str, Any]) -> None:
    check_keys(obj, {"message_id", "emoji"}, "reaction")
    required_str(obj, "message_id", "reaction")
    if "emoji" not in obj:
        raise missing_parameter("reaction.emoji")
    checked_str(obj["emoji"], "reaction.emoji", 16)


def validate_template_send(obj: dict[str, Any]) -> None:
    check_keys(obj, {"name", "language", "components", "namespace"}, "template")
    required_str(obj, "name", "template", 512)
    language = as_object(obj.get("language"), "template.language") if "language" in obj else None
    if language is None:
        raise missing_parameter("template.language")
    check_keys(language, {"code", "policy"}, "template.language")
    required_str(language, "code", "template.language")
    components = obj.get("components", [])
    if not isinstance(components, list):
        raise invalid_parameter("Param template.components must be an array.")
    for index, component in enumerate(components):
        comp = as_object(component, f"template.components[{index}]")
        check_keys(
            comp, {"type", "sub_type", "index", "parameters", "cards"}, f"template.components[{index}]"
        )
        kind = str(comp.get("type", "")).lower()  # Meta accepts BODY as well as body (pywa sends upper case)
        if kind not in ("header", "body", "button", "carousel", "limited_time_offer"):
            raise invalid_parameter(f"Param template.components[{index}].type is invalid.")
        if kind == "button":
            if str(comp.get("sub_type", "")).lower() not in _BUTTON_SUB_TYPES:
                raise invalid_parameter(f"Param template.components[{index}].sub_type is invalid.")
            if "index" not in comp:
                raise missing_parameter(f"template.components[{index}].index")
        parameters = comp.get("parameters", [])
        if not isinstance(parameters, list):
            raise invalid_parameter(f"Param template.components[{index}].parameters must be an array.")
        for param in parameters:
            _validate_template_parameter(as_object(param, "parameter"), f"template.components[{index}]")


_BUTTON_SUB_TYPES = frozenset(
    {"quick_reply", "url", "copy_code", "flow", "catalog", "mpm", "voice_call", "otp"}
)
_PARAM_TYPES = frozenset(
    {
        "text",
        "currency",
        "date_time",
        "image",
        "video",
        "document",
        "location",
        "payload",
        "coupon_code",
        "action",
        "limited_time_offer",
    }
)


def _validate_template_parameter(param: dict[str, Any], name: str) -> None:
    kind = param.get("type")
    if kind not in _PARAM_TYPES:
        raise invalid_parameter(f"Param {name}.parameters[].type is invalid.")
    if kind not in param:
        raise missing_parameter(f"{name}.parameters[].{kind}")
    if kind == "text":
        checked_str(param["text"], f"{name}.parameters[].text", 32768)
    elif kind == "currency":
        currency = as_object(param["currency"], "currency")
        required_str(currency, "fallback_value", "currency")
        required_str(currency, "code", "currency")
        if not isinstance(currency.get("amount_1000"), int):
            raise missing_parameter("currency.amount_1000")
    elif kind == "date_time":
        required_str(as_object(param["date_time"], "date_time"), "fallback_value", "date_time")
    elif kind in ("image", "video", "document"):
        media = as_object(param[kind], kind)
        if not media.get("id") and not media.get("link"):
            raise missing_parameter(f"{kind}.id or {kind}.link")


def template_parameter_issue(param: dict[str, Any]) -> bool:
    """Meta refuses text parameters with newlines, tabs or more than 4 consecutive spaces (132018)."""
    text = param.get("text")
    return isinstance(text, str) and ("\n" in text or "\t" in text or "     " in text)


def validate_interactive(obj: dict[str, Any]) -> None:
    check_keys(obj, {"type", "header", "body", "footer", "action"}, "interactive")
    kind = obj.get("type")
    if kind is None:
        raise missing_parameter("interactive.type")
    validator = _INTERACTIVE.get(str(kind))
    if validator is None:
        raise invalid_parameter(
            f"Param interactive.type must be one of {{{', '.join(sorted(_INTERACTIVE))}}}."
        )
    if "action" not in obj:
        raise missing_parameter("interactive.action")
    if "footer" in obj:
        footer = as_object(obj["footer"], "interactive.footer")
        check_keys(footer, {"text"}, "interactive.footer")
        required_str(footer, "text", "interactive.footer", 60)
    validator(obj)


def _body(obj: dict[str, Any], max_len: int, required: bool = True) -> None:
    if "body" not in obj:
        if required:
            raise missing_parameter("interactive.body")
        return
    body = as_object(obj["body"], "interactive.body")
    check_keys(body, {"text"}, "interactive.body")
    required_str(body, "text", "interactive.body", max_len)


def _header(obj: dict[str, Any], text_only: bool) -> None:
    if "header" not in obj:
        return
    header = as_object(obj["header"], "interactive.header")
    kind = header.get("type")
    allowed = ("text",) if text_only else ("text", "image", "video", "document")
    if kind not in allowed:
        raise invalid_parameter(f"Param interactive.header.type must be one of {{{', '.join(allowed)}}}.")
    check_keys(header, {"type", str(kind)}, "interactive.header")
    if kind == "text":
        required_str(header, "text", "interactive.header", 60)
    else:
        validate_media(str(kind), as_object(header.get(str(kind)), str(kind)))


def _buttons(obj: dict[str, Any]) -> None:
    _body(obj, 1024)
    _header(obj, text_only=False)
    action = as_object(obj["action"], "interactive.action")
    check_keys(action, {"buttons"}, "interactive.action")
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise invalid_value("Param interactive.action.buttons must have between 1 and 3 buttons.")
    titles: set[str] = set()
    ids: set[str] = set()
    for index, raw in enumerate(buttons):
        button = as_object(raw, f"interactive.action.buttons[{index}]")
        if button.get("type") != "reply":
            raise invalid_parameter(f"Param interactive.action.buttons[{index}].type must be reply.")
        reply = as_object(button.get("reply"), f"interactive.action.buttons[{index}].reply")
        check_keys(reply, {"id", "title"}, "reply")
        button_id = required_str(reply, "id", f"interactive.action.buttons[{index}].reply", 256)
        title = required_str(reply, "title", f"interactive.action.buttons[{index}].reply", 20)
        if title in titles or button_id in ids:
            raise invalid_value("Button titles and ids must be unique.")
        titles.add(title)
        ids.add(button_id)


def _list(obj: dict[str, Any]) -> None:
    _body(obj, 4096)
    _header(obj, text_only=True)
    action = as_object(obj["action"], "interactive.action")
    check_keys(action, {"button", "sections"}, "interactive.action")
    required_str(action, "button", "interactive.action", 20)
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        raise invalid_value("Param interactive.action.sections must have between 1 and 10 sections.")
    row_ids: set[str] = set()
    for s_index, raw in enumerate(sections):
        name = f"interactive.action.sections[{s_index}]"
        section = as_object(raw, name)
        check_keys(section, {"title", "rows", "product_items"}, name)
        if len(sections) > 1:
            required_str(section, "title", name, 24)
        else:
            optional_str(section, "title", name, 24)
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise missing_parameter(f"{name}.rows")
        for r_index, row_raw in enumerate(rows):
            row_name = f"{name}.rows[{r_index}]"
            row = as_object(row_raw, row_name)
            check_keys(row, {"id", "title", "description"}, row_name)
            row_id = required_str(row, "id", row_name, 200)
            required_str(row, "title", row_name, 24)
            optional_str(row, "description", row_name, 72)
            if row_id in row_ids:
                raise invalid_value("Row ids must be unique across sections.")
            row_ids.add(row_id)
    if len(row_ids) > 10:
        raise invalid_value("A list message can have at most 10 rows in total.")


def _cta_url(obj: dict[str, Any]) -> None:
    _body(obj, 1024)
    _header(obj, text_only=False)
    action = as_object(obj["action"], "interactive.action")
    if action.get("name") != "cta_url":
        raise invalid_parameter("Param interactive.action.name must be cta_url.")
    params = as_object(action.get("parameters"), "interactive.action.parameters")
    required_str(params, "display_text", "interactive.action.parameters", 20)
    url = required_str(params, "url", "interactive.action.parameters", 2000)
    if not url.startswith(("http://", "https://")):
        raise invalid_value("Param interactive.action.parameters.url must be an http(s) URL.")


def _flow(obj: dict[str, Any]) -> None:
    _body(obj, 1024)
    _header(obj, text_only=True)
    action = as_object(obj["action"], "interactive.action")
    if action.get("name") != "flow":
        raise invalid_parameter("Param interactive.action.name must be flow.")
    params = as_object(action.get("parameters"), "interactive.action.parameters")
    required_str(params, "flow_message_version", "interactive.action.parameters")
    if not params.get("flow_id") and not params.get("flow_name"):
        raise missing_parameter("interactive.action.parameters.flow_id")
    required_str(params, "flow_cta", "interactive.action.parameters", 30)
    if params.get("flow_action", "navigate") not in ("navigate", "data_exchange"):
        raise invalid_value(
            "Param interactive.action.parameters.flow_action must be navigate or data_exchange."
        )
    if params.get("mode", "published") not in ("draft", "published"):
        raise invalid_value("Param interactive.action.parameters.mode must be draft or published.")


def _other_interactive(obj: dict[str, Any]) -> None:
    # product, catalog, location request...: accepted with envelope checks only.
    _body(obj, 1024, required=False)


_INTERACTIVE = {
    "button": _buttons,
    "list": _list,
    "cta_url": _cta_url,
    "flow": _flow,
    "product": _other_interactive,
    "product_list": _other_interactive,
    "catalog_message": _other_interactive,
    "location_request_message": _other_interactive,
    "address_message": _other_interactive,
    "voice_call": _other_interactive,
    "carousel": _other_interactive,
}

VALIDATORS = {
    "text": validate_text,
    "location": validate_location,
    "interactive": validate_interactive,
    "template": validate_template_send,
    "reaction": validate_reaction,
}


def ensure(condition: bool, error: GraphError) -> None:
    if not condition:
        raise error
