"""Template definitions as Meta lists them (``GET /<WABA>/message_templates``) or as we create them.

Parsed with the same liberal/strict rules as webhooks; :func:`template_variables` reads the
``{{1}}`` / ``{{name}}`` placeholders a component expects to be filled at send time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chatrk.whatsapp.enums import (
    ButtonType,
    ComponentType,
    HeaderFormat,
    ParameterFormat,
    QualityScore,
    TemplateCategory,
    TemplateStatus,
)
from chatrk.whatsapp.payloads import JsonValue
from chatrk.whatsapp.reader import Obj

MAX_COMPONENTS = 20
MAX_BUTTONS = 10
MAX_CARDS = 10
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


@dataclass(frozen=True, slots=True)
class TemplateButton:
    type: ButtonType
    text: str | None = None
    url: str | None = None
    phone_number: str | None = None
    otp_type: str | None = None
    examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TemplateComponent:
    type: ComponentType
    format: HeaderFormat | None = None
    text: str | None = None
    buttons: tuple[TemplateButton, ...] = ()
    cards: tuple[tuple[TemplateComponent, ...], ...] = ()
    examples: tuple[str, ...] = ()  # example values for the component's variables
    add_security_recommendation: bool = False
    code_expiration_minutes: int | None = None

    @property
    def variables(self) -> tuple[str, ...]:
        return template_variables(self.text or "")


@dataclass(frozen=True, slots=True)
class TemplateDefinition:
    name: str
    language: str
    category: TemplateCategory
    components: tuple[TemplateComponent, ...]
    id: str | None = None
    status: TemplateStatus | None = None
    parameter_format: ParameterFormat = ParameterFormat.POSITIONAL
    quality: QualityScore | None = None
    message_send_ttl_seconds: int | None = None

    def component(self, kind: ComponentType) -> TemplateComponent | None:
        return next((c for c in self.components if c.type is kind), None)


def template_variables(text: str) -> tuple[str, ...]:
    """Placeholder names in order of appearance: ``("1", "2")`` or ``("first_name",)``."""
    return tuple(match.group(1) for match in _VARIABLE.finditer(text))


def parse_template(data: JsonValue, path: str = "$") -> TemplateDefinition:
    """One template object (decoded JSON) to a :class:`TemplateDefinition`; raises PayloadError."""
    obj = Obj(data, path)
    quality = obj.opt_obj("quality_score")
    return TemplateDefinition(
        name=obj.string("name"),
        language=obj.string("language"),
        category=obj.enum("category", TemplateCategory),
        components=obj.each("components", _component, limit=MAX_COMPONENTS),
        id=obj.opt_ident("id"),
        status=obj.opt_enum("status", TemplateStatus),
        parameter_format=obj.opt_enum("parameter_format", ParameterFormat) or ParameterFormat.POSITIONAL,
        quality=quality.opt_enum("score", QualityScore) if quality else None,
        message_send_ttl_seconds=obj.opt_integer("message_send_ttl_seconds"),
    )


def _component(obj: Obj) -> TemplateComponent:
    return TemplateComponent(
        type=obj.enum("type", ComponentType),
        format=obj.opt_enum("format", HeaderFormat),
        text=obj.opt_string("text"),
        buttons=obj.each("buttons", _button, limit=MAX_BUTTONS),
        cards=tuple(
            card.each("components", _component, limit=MAX_COMPONENTS)
            for card in obj.objs("cards", limit=MAX_CARDS)
        ),
        examples=_component_examples(obj),
        add_security_recommendation=obj.flag("add_security_recommendation"),
        code_expiration_minutes=obj.opt_integer("code_expiration_minutes"),
    )


def _component_examples(obj: Obj) -> tuple[str, ...]:
    """Example values: ``body_text`` is a list of lists, ``header_text`` a flat list."""
    example = obj.opt_obj("example")
    if example is None:
        return ()
    body = example.array("body_text")
    if body:
        first = body[0]
        return tuple(value for value in first if isinstance(value, str)) if isinstance(first, list) else ()
    return tuple(value for value in example.array("header_text") if isinstance(value, str))


def _button(obj: Obj) -> TemplateButton:
    return TemplateButton(
        type=obj.enum("type", ButtonType),
        text=obj.opt_string("text"),
        url=obj.opt_string("url"),
        phone_number=obj.opt_string("phone_number"),
        otp_type=obj.opt_string("otp_type"),
        examples=_button_examples(obj),
    )


def _button_examples(obj: Obj) -> tuple[str, ...]:
    # URL buttons carry a list of examples, COPY_CODE a single string.
    value = obj.data.get("example")
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()
