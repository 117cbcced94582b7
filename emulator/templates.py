"""Message templates: Meta's creation rules, scripted review and send-time parameter checks (REFERENCE §2)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from emulator.errors import GraphError

NAME_PATTERN = re.compile(r"^[a-z0-9_]{1,512}$")
VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
NAMED_VARIABLE = re.compile(r"^[a-z][a-z0-9_]*$")


class TemplateStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PAUSED = "PAUSED"
    DISABLED = "DISABLED"
    PENDING_DELETION = "PENDING_DELETION"
    DELETED = "DELETED"
    UNKNOWN = "UNKNOWN"


class TemplateCategory(StrEnum):
    MARKETING = "MARKETING"
    UTILITY = "UTILITY"
    AUTHENTICATION = "AUTHENTICATION"
    UNKNOWN = "UNKNOWN"


@dataclass(slots=True)
class Template:
    id: str
    waba_id: str
    name: str
    language: str
    category: TemplateCategory
    parameter_format: str
    components: list[dict[str, Any]]
    created_at: float
    status: TemplateStatus = TemplateStatus.PENDING
    quality: str = "UNKNOWN"
    rejected_reason: str | None = None
    allow_category_change: bool = False
    message_send_ttl_seconds: int | None = None
    pause_count: int = 0
    edits: list[float] = field(default_factory=list)
    paced_sends: int = 0
    held: list[str] = field(default_factory=list)

    def to_graph(self, fields: set[str] | None = None) -> dict[str, Any]:
        full: dict[str, Any] = {
            "name": self.name,
            "parameter_format": self.parameter_format,
            "components": self.components,
            "language": self.language,
            "status": str(self.status),
            "category": str(self.category),
            "quality_score": {"score": self.quality, "date": int(self.created_at)},
            "id": self.id,
        }
        if self.status is TemplateStatus.REJECTED:
            full["rejected_reason"] = self.rejected_reason
        if fields:
            return {k: v for k, v in full.items() if k in fields or k == "id"}
        return full


def creation_error(details: str, subcode: int, user_title: str = "Invalid template") -> GraphError:
    return GraphError(
        100,
        details,
        subcode=subcode,
        message="Invalid parameter",
        extra={"is_transient": False, "error_user_title": user_title, "error_user_msg": details},
    )


def _text_of(component: dict[str, Any]) -> str:
    text = component.get("text", "")
    return text if isinstance(text, str) else ""


def variables(text: str) -> list[str]:
    return [m.group(1) for m in VARIABLE.finditer(text)]


def normalize_components(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise creation_error("components must be a non-empty array.", 2388047)
    components: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise creation_error("Each component needs a type.", 2388047)
        component = dict(item)
        component["type"] = item["type"].upper()
        if isinstance(component.get("format"), str):
            component["format"] = component["format"].upper()
        components.append(component)
    return components


def check_structure(components: list[dict[str, Any]], category: TemplateCategory) -> None:
    """Synchronous creation rules: counts, lengths, button mix (REFERENCE §2 "Field rules")."""
    kinds = [c["type"] for c in components]
    for kind in ("HEADER", "FOOTER", "BUTTONS"):
        if kinds.count(kind) > 1:
            raise creation_error(f"A template can have at most one {kind} component.", 2388047)
    if kinds.count("BODY") != 1:
        raise creation_error("A template needs exactly one BODY component.", 2388047)
    unknown = set(kinds) - {"HEADER", "BODY", "FOOTER", "BUTTONS", "CAROUSEL", "LIMITED_TIME_OFFER"}
    if unknown:
        raise creation_error(f"Unknown component type {sorted(unknown)[0]}.", 2388047)
    for component in components:
        _check_component(component, category)


def _check_component(component: dict[str, Any], category: TemplateCategory) -> None:
    kind = component["type"]
    if kind == "HEADER":
        fmt = component.get("format", "TEXT")
        if fmt not in ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "GIF", "LOCATION"):
            raise creation_error(f"Invalid header format {fmt}.", 2388047)
        if fmt == "TEXT":
            text = _text_of(component)
            if not text:
                raise creation_error("A TEXT header needs text.", 2388047)
            if len(text) > 60:
                raise creation_error("Header text is over 60 characters.", 2388040)
            if len(variables(text)) > 1:
                raise creation_error("Header text can have at most one parameter.", 2388047)
        if category is TemplateCategory.AUTHENTICATION:
            raise creation_error("Authentication templates cannot have a header.", 2388047)
    elif kind == "BODY":
        text = _text_of(component)
        if category is not TemplateCategory.AUTHENTICATION:
            if not text:
                raise creation_error("BODY needs text.", 2388047)
            if len(text) > 1024:
                raise creation_error("Body text is over 1024 characters.", 2388040)
    elif kind == "FOOTER":
        text = _text_of(component)
        if len(text) > 60:
            raise creation_error("Footer text is over 60 characters.", 2388040)
        if variables(text):
            raise creation_error("Footer cannot have parameters.", 2388073)
    elif kind == "BUTTONS":
        check_buttons(component.get("buttons"))


_BUTTON_CAPS = {"QUICK_REPLY": 10, "URL": 2, "PHONE_NUMBER": 1, "COPY_CODE": 1}


def check_buttons(buttons: Any) -> None:
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 10:
        raise creation_error("BUTTONS needs between 1 and 10 buttons.", 2388047)
    kinds: list[str] = []
    for button in buttons:
        if not isinstance(button, dict) or not isinstance(button.get("type"), str):
            raise creation_error("Each button needs a type.", 2388047)
        kind = button["type"].upper()
        kinds.append(kind)
        text = button.get("text", "")
        if isinstance(text, str) and len(text) > 25:
            raise creation_error("Button text is over 25 characters.", 2388040)
        if kind == "URL":
            _check_url_button(button)
        if kind == "PHONE_NUMBER" and len(str(button.get("phone_number", ""))) > 20:
            raise creation_error("phone_number is over 20 characters.", 2388040)
        if kind == "COPY_CODE" and len(str(button.get("example", ""))) > 15:
            raise creation_error("COPY_CODE example is over 15 characters.", 2388040)
    for kind, cap in _BUTTON_CAPS.items():
        if kinds.count(kind) > cap:
            raise creation_error(f"At most {cap} {kind} buttons.", 2388047)
    quick = [i for i, k in enumerate(kinds) if k == "QUICK_REPLY"]
    if quick and quick[-1] - quick[0] + 1 != len(quick):
        raise creation_error("Quick reply buttons must be grouped together.", 2388047)


def _check_url_button(button: dict[str, Any]) -> None:
    url = str(button.get("url", ""))
    if not url or len(url) > 2000:
        raise creation_error("URL button needs a url of at most 2000 characters.", 2388040)
    found = variables(url)
    if len(found) > 1 or (found and not url.rstrip().endswith("}}")):
        raise creation_error("A URL button can have one {{1}} variable, at the end.", 2388047)


def expected_parameters(template: Template) -> dict[str, list[str]]:
    """Variables each send must fill, keyed by component ('header', 'body', 'button:<index>')."""
    expected: dict[str, list[str]] = {}
    for component in template.components:
        kind = component["type"]
        if kind == "HEADER" and component.get("format", "TEXT") == "TEXT":
            expected["header"] = variables(_text_of(component))
        elif kind == "HEADER":
            expected["header"] = ["<media>"] if component.get("format") != "LOCATION" else ["<location>"]
        elif kind == "BODY":
            expected["body"] = variables(_text_of(component))
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons", [])):
                if (
                    str(button.get("type", "")).upper() == "URL" and variables(str(button.get("url", "")))
                ) or (
                    str(button.get("type", "")).upper() in ("COPY_CODE", "OTP")
                    and template.category is (TemplateCategory.AUTHENTICATION)
                ):
                    expected[f"button:{index}"] = ["1"]
    if template.category is TemplateCategory.AUTHENTICATION and "body" not in expected:
        expected["body"] = ["1"]
    if template.category is TemplateCategory.AUTHENTICATION and not expected.get("body"):
        expected["body"] = ["1"]
    return expected


def sent_parameters(components: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    sent: dict[str, list[dict[str, Any]]] = {}
    for component in components:
        kind = str(component.get("type", "")).lower()
        key = f"button:{component.get('index')}" if kind == "button" else str(kind)
        sent[key] = list(component.get("parameters", []))
    return sent


def check_send_parameters(template: Template, components: list[dict[str, Any]]) -> GraphError | None:
    expected = expected_parameters(template)
    sent = sent_parameters(components)
    for key, names in expected.items():
        given = sent.get(key, [])
        if len(given) != len(names):
            return GraphError(
                132000,
                f"{key.split(':')[0]}: number of localizable_params ({len(given)}) does "
                f"not match the expected number of params ({len(names)})",
            )
        if template.parameter_format == "NAMED" and key in ("header", "body"):
            given_names = sorted(str(p.get("parameter_name", "")) for p in given)
            if given_names != sorted(names):
                return GraphError(
                    132000, f"{key}: parameter names {given_names} do not match {sorted(names)}"
                )
    for key, given in sent.items():
        if key not in expected and given and key in ("header", "body"):
            return GraphError(132000, f"{key}: the template expects no parameters")
    return None
