"""What the outbound template gate calls: is this template sendable, and what exactly is sent.

* :func:`sendable_template` — only a template approved by Chatrk's review **and** by Meta
  (``APPROVED``; never paused, disabled or pending) may be sent; anything else is a :class:`Refusal`
  with Meta's matching error code, so the outbox records the same reason Meta would give.
* :func:`build_send` — checks the values against the template's variables (count → 132000,
  named vs positional → 132012, bad characters → 132018) and builds the ``TemplateMessage``.
* :func:`render` — the text a customer would see, for previews and the inbox.
* :func:`as_sent` — that text for one send, kept with the message so later edits of the template never
  change what the thread shows was sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chatrk.inbox.models import Channel
from chatrk.msgtemplates.errors import ParameterError
from chatrk.msgtemplates.lint import MEDIA_HEADER_FORMATS, VARIABLE
from chatrk.msgtemplates.models import Template
from chatrk.whatsapp.enums import MediaKind
from chatrk.whatsapp.messages import (
    BodyParameters,
    ButtonParameters,
    ButtonSubType,
    CouponCodeParam,
    CurrencyParam,
    DateTimeParam,
    HeaderParameters,
    InvalidRequest,
    LocationParam,
    MediaParam,
    PayloadParam,
    TemplateComponentParameters,
    TemplateMessage,
    TextParam,
)

type Values = Sequence[str] | Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # plain language, for the outbox row and the person sending
    code: int  # what Meta would answer: 132001 missing/not approved, 132015 paused, 132016 disabled


@dataclass(frozen=True, slots=True)
class TemplateValues:
    """Values for one send. Positional templates take lists, named ones mappings by variable name."""

    body: Values = ()
    header: Values = ()  # a text header's variable
    header_media: MediaParam | LocationParam | None = None  # an image/video/document/location header
    buttons: Mapping[int, str] = field(default_factory=dict)  # button index → URL suffix, coupon, payload


def sendable_template(workspace_id: int, channel_id: int, name: str, language: str) -> Template | Refusal:
    """The template to send from this channel, or why it cannot be sent. Scoped to the workspace."""
    channel = Channel.objects.for_workspace(workspace_id).filter(pk=channel_id).first()
    if channel is None:
        return Refusal("No such channel in this workspace.", 132001)
    template = (
        Template.objects.for_workspace(workspace_id)
        .filter(waba_id=channel.waba_id, name=name, language=language)
        .first()
    )
    if template is None:
        return Refusal(f"There is no template {name} in {language} for this number.", 132001)
    if template.status != Template.Status.APPROVED:
        return Refusal("This template has not been approved in Chatrk's review.", 132001)
    status = template.meta_status
    if status == Template.MetaStatus.PAUSED:
        return Refusal("Meta has paused this template because of its quality; try again later.", 132015)
    if status == Template.MetaStatus.DISABLED:
        return Refusal("Meta has disabled this template; it can no longer be sent.", 132016)
    if status != Template.MetaStatus.APPROVED:
        return Refusal(
            f"Meta has not approved this template (status: {template.get_meta_status_display()}).", 132001
        )
    return template


# --- reading a template's structure ----------------------------------------------------------------


def _component(template: Template, kind: str) -> Mapping[str, Any] | None:
    for component in template.components:
        if isinstance(component, Mapping) and str(component.get("type", "")).upper() == kind:
            return component
    return None


def _variables(component: Mapping[str, Any] | None) -> list[str]:
    text = component.get("text") if component else None
    return [m.group(1) for m in VARIABLE.finditer(text)] if isinstance(text, str) else []


def _buttons(template: Template) -> list[Mapping[str, Any]]:
    component = _component(template, "BUTTONS")
    listed = component.get("buttons") if component else None
    return [b for b in listed if isinstance(b, Mapping)] if isinstance(listed, list) else []


def _ordered(where: str, names: list[str], values: Values, *, named: bool) -> list[tuple[str | None, str]]:
    """(name, value) pairs in the template's order, or ParameterError as Meta would answer."""
    if named:
        if not isinstance(values, Mapping):
            raise ParameterError(f"The {where} uses named variables: give values by name.", code=132012)
        missing = [n for n in names if n not in values]
        extra = sorted(set(values) - set(names))
        if missing or extra:
            parts = [
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(extra)}" if extra else "",
            ]
            raise ParameterError(
                f"The {where} values do not match its variables: {'; '.join(p for p in parts if p)}."
            )
        return [(n, values[n]) for n in names]
    if isinstance(values, Mapping):
        raise ParameterError(f"The {where} uses numbered variables: give values as a list.", code=132012)
    if len(values) != len(names):
        raise ParameterError(
            f"The {where} has {len(names)} variable(s) but {len(values)} value(s) were given."
        )
    order = sorted(range(len(names)), key=lambda i: int(names[i]))
    return [(None, values[i]) for i in order]


def _text_param(name: str | None, value: str) -> TextParam:
    try:
        return TextParam(value, name=name)
    except InvalidRequest as error:
        raise ParameterError(f"A value is not allowed: {error}.", code=132018) from None


def build_send(template: Template, values: TemplateValues) -> TemplateMessage:
    """The message to send; raises :class:`ParameterError` (with Meta's code) when the values do not fit."""
    named = template.parameter_format == "NAMED"
    parts: list[TemplateComponentParameters] = []
    header = _component(template, "HEADER")
    header_format = str(header.get("format", "")).upper() if header else ""
    if header_format == "TEXT":
        pairs = _ordered("header", _variables(header), values.header, named=named)
        if pairs:
            parts.append(HeaderParameters(tuple(_text_param(n, v) for n, v in pairs)))
    elif header_format in (*MEDIA_HEADER_FORMATS, "LOCATION"):
        media = values.header_media
        if media is None:
            raise ParameterError(f"This template's header needs a {header_format.lower()}.", field="header")
        if isinstance(media, MediaParam) and media.media_kind != MediaKind(header_format.lower()):
            raise ParameterError(f"This template's header is a {header_format.lower()}.", code=132012)
        if isinstance(media, LocationParam) != (header_format == "LOCATION"):
            raise ParameterError(f"This template's header is a {header_format.lower()}.", code=132012)
        parts.append(HeaderParameters((media,)))
    elif values.header or values.header_media:
        raise ParameterError("This template's header takes no values.")
    if template.category == "AUTHENTICATION":
        code = list(values.body.values()) if isinstance(values.body, Mapping) else list(values.body)
        if len(code) != 1:
            raise ParameterError("An authentication template takes exactly one value: the code.")
        parts.append(BodyParameters((_text_param(None, code[0]),)))
    else:
        pairs = _ordered("body", _variables(_component(template, "BODY")), values.body, named=named)
        if pairs:
            parts.append(BodyParameters(tuple(_text_param(n, v) for n, v in pairs)))
    parts.extend(_button_parts(template, values))
    try:
        return TemplateMessage(name=template.name, language=template.language, components=tuple(parts))
    except InvalidRequest as error:
        raise ParameterError(f"The template cannot be sent: {error}.") from None


def _button_parts(template: Template, values: TemplateValues) -> list[ButtonParameters]:
    buttons = _buttons(template)
    unknown = [i for i in values.buttons if not 0 <= i < len(buttons)]
    if unknown:
        raise ParameterError(f"This template has no button {unknown[0]}.", field="buttons")
    parts: list[ButtonParameters] = []
    for index, button in enumerate(buttons):
        kind = str(button.get("type", "")).upper()
        value = values.buttons.get(index)
        if template.category == "AUTHENTICATION" and kind == "OTP":
            code = values.body.values() if isinstance(values.body, Mapping) else values.body
            parts.append(ButtonParameters("url", index, (_text_param(None, next(iter(code))),)))
        elif kind == "URL" and "{{" in str(button.get("url", "")):
            if not value:
                raise ParameterError(f"Button {index + 1} needs the end of its web address.", field="buttons")
            parts.append(_button("url", index, _text_param(None, value)))
        elif kind == "COPY_CODE":
            if not value:
                raise ParameterError(f"Button {index + 1} needs the coupon code.", field="buttons")
            try:
                parts.append(_button("copy_code", index, CouponCodeParam(value)))
            except InvalidRequest as error:
                raise ParameterError(f"Coupon code: {error}.", code=132018) from None
        elif kind == "QUICK_REPLY" and value:
            parts.append(_button("quick_reply", index, PayloadParam(value)))
        elif value:
            raise ParameterError(f"Button {index + 1} takes no value.", field="buttons")
    return parts


def _button(
    sub_type: ButtonSubType, index: int, param: TextParam | CouponCodeParam | PayloadParam
) -> ButtonParameters:
    return ButtonParameters(sub_type, index, (param,))


# --- preview ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preview:
    header: str
    body: str
    footer: str
    buttons: tuple[str, ...]
    header_format: str = ""

    @property
    def text(self) -> str:
        parts = [p for p in (self.header, self.body, self.footer) if p]
        parts.extend(f"[{label}]" for label in self.buttons)
        return "\n\n".join(parts)


def _examples(component: Mapping[str, Any] | None, key: str, names: list[str]) -> dict[str, str]:
    example = component.get("example") if component else None
    if not isinstance(example, Mapping):
        return {}
    named = example.get(f"{key}_named_params")
    if isinstance(named, list):
        return {
            str(item.get("param_name")): str(item.get("example"))
            for item in named
            if isinstance(item, Mapping) and item.get("param_name") and item.get("example")
        }
    given = example.get(key)
    flat = (
        given[0]
        if key == "body_text" and isinstance(given, list) and given and isinstance(given[0], list)
        else given
    )
    if not isinstance(flat, list):
        return {}
    ordered = sorted(names, key=lambda n: int(n) if n.isdigit() else 0)
    return {name: str(value) for name, value in zip(ordered, flat, strict=False)}


def _fill(text: str, values: Values, fallback: Mapping[str, str], names: list[str]) -> str:
    if isinstance(values, Mapping):
        given = dict(values)
    else:
        ordered = sorted(names, key=lambda n: int(n) if n.isdigit() else 0)
        given = dict(zip(ordered, values, strict=False))

    def replace(match: Any) -> str:
        name = str(match.group(1))
        return given.get(name) or fallback.get(name) or match.group(0)

    return VARIABLE.sub(replace, text)


def render(template: Template, values: TemplateValues | None = None) -> Preview:
    """What the customer sees; missing values fall back to the template's examples, then to ``{{name}}``."""
    return render_components(template.components, template.category, values)


def render_components(components: Any, category: str, values: TemplateValues | None = None) -> Preview:
    values = values or TemplateValues()
    holder = Template(components=components if isinstance(components, list) else [], category=category)
    header = _component(holder, "HEADER")
    body = _component(holder, "BODY")
    footer = _component(holder, "FOOTER")
    header_format = str(header.get("format", "")).upper() if header else ""
    header_text = ""
    if header_format == "TEXT" and isinstance(header.get("text") if header else None, str):
        assert header is not None
        names = _variables(header)
        header_text = _fill(
            str(header["text"]), values.header, _examples(header, "header_text", names), names
        )
    body_text = ""
    if category.upper() == "AUTHENTICATION":
        code = list(values.body.values()) if isinstance(values.body, Mapping) else list(values.body)
        body_text = f"{code[0] if code else '123456'} is your verification code."
        if body and body.get("add_security_recommendation"):
            body_text += " For your security, do not share this code."
    elif body and isinstance(body.get("text"), str):
        names = _variables(body)
        body_text = _fill(str(body["text"]), values.body, _examples(body, "body_text", names), names)
    footer_text = ""
    if footer:
        if isinstance(footer.get("text"), str):
            footer_text = str(footer["text"])
        elif footer.get("code_expiration_minutes"):
            footer_text = f"This code expires in {footer['code_expiration_minutes']} minutes."
    labels = tuple(str(b.get("text") or str(b.get("type", "")).title()) for b in _buttons(holder))
    return Preview(header_text, body_text, footer_text, labels, header_format)


def as_sent(template: Template, message: TemplateMessage) -> str:
    """What the customer read for this send: header (or its media's kind), body with the values filled
    in, footer and button labels, as plain text (the inbox escapes it)."""
    header: Values = ()
    body: Values = ()
    for part in message.components:
        if isinstance(part, HeaderParameters):
            header = _sent_values([p for p in part.parameters if isinstance(p, TextParam)])
        elif isinstance(part, BodyParameters):
            body = _sent_values(list(part.parameters))
    preview = render(template, TemplateValues(body=body, header=header))
    media = preview.header_format if preview.header_format not in ("", "TEXT") else ""
    return "\n\n".join(part for part in (f"[{media.lower()}]" if media else "", preview.text) if part)


def _sent_values(parameters: Sequence[TextParam | CurrencyParam | DateTimeParam]) -> Values:
    texts = [p.text if isinstance(p, TextParam) else p.fallback_value for p in parameters]
    if parameters and all(p.name for p in parameters):
        return {str(p.name): text for p, text in zip(parameters, texts, strict=True)}
    return texts
