"""Typed builders for what we send: one frozen dataclass per message kind.

Each checks Meta's documented limits when built (so a bad message fails here, locally, with a
reason, instead of costing a round-trip and a rate-limit token) and renders the ``type`` / ``<type>``
part of the send body with :meth:`payload`. The client adds the envelope (``to``, context, …).
Media goes by uploaded id only: a public link would expose customer data to anyone holding the URL.
Template media headers may still use ``link`` (for assets that are public by nature).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from chatrk.whatsapp.enums import MediaKind
from chatrk.whatsapp.payloads import ContactCard, JsonValue

type Json = dict[str, JsonValue]


class InvalidRequest(ValueError):
    """A request we refuse to send. The message names the rule broken, never the content."""


def _check(condition: bool, rule: str) -> None:
    if not condition:
        raise InvalidRequest(rule)


def _check_length(value: str | None, limit: int, what: str, *, required: bool = False) -> None:
    if value is None:
        _check(not required, f"{what} is required")
        return
    _check(bool(value) or not required, f"{what} must not be empty")
    _check(len(value) <= limit, f"{what} is longer than {limit} characters")


_ID_IN_MESSAGE = re.compile(r"[\x21-\x7e]{1,256}")


def _check_id(value: str, what: str) -> None:
    _check(_ID_IN_MESSAGE.fullmatch(value) is not None, f"{what} is not a valid id")


# --- plain messages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextMessage:
    body: str
    preview_url: bool = False

    def __post_init__(self) -> None:
        _check_length(self.body, 4096, "text body", required=True)

    def payload(self) -> Json:
        return {"type": "text", "text": {"body": self.body, "preview_url": self.preview_url}}


_CAPTIONED = {MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.DOCUMENT}


@dataclass(frozen=True, slots=True)
class MediaMessage:
    """Image, video, audio (``voice=True`` for a voice note), document or sticker, by uploaded id."""

    media_kind: MediaKind
    media_id: str
    caption: str | None = None
    filename: str | None = None
    voice: bool = False

    def __post_init__(self) -> None:
        _check(self.media_kind is not MediaKind.UNKNOWN, "media kind is required")
        _check_id(self.media_id, "media id")
        _check(self.caption is None or self.media_kind in _CAPTIONED, "this media kind takes no caption")
        _check_length(self.caption, 1024, "caption")
        _check(
            self.filename is None or self.media_kind is MediaKind.DOCUMENT, "only documents have a filename"
        )
        _check_length(self.filename, 240, "filename")
        _check(not self.voice or self.media_kind is MediaKind.AUDIO, "only audio can be a voice note")

    def payload(self) -> Json:
        body: Json = {"id": self.media_id}
        if self.caption is not None:
            body["caption"] = self.caption
        if self.filename is not None:
            body["filename"] = self.filename
        if self.voice:
            body["voice"] = True
        return {"type": self.media_kind.value, self.media_kind.value: body}


@dataclass(frozen=True, slots=True)
class LocationMessage:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        _check(-90.0 <= self.latitude <= 90.0, "latitude is out of range")
        _check(-180.0 <= self.longitude <= 180.0, "longitude is out of range")

    def payload(self) -> Json:
        body: Json = {"latitude": self.latitude, "longitude": self.longitude}
        if self.name is not None:
            body["name"] = self.name
        if self.address is not None:
            body["address"] = self.address
        return {"type": "location", "location": body}


@dataclass(frozen=True, slots=True)
class ContactsMessage:
    cards: tuple[ContactCard, ...]

    def __post_init__(self) -> None:
        _check(1 <= len(self.cards) <= 257, "between 1 and 257 contacts may be shared")
        for card in self.cards:
            _check(bool(card.name.formatted_name), "each contact needs a formatted name")

    def payload(self) -> Json:
        return {"type": "contacts", "contacts": [_contact_card(card) for card in self.cards]}


def _drop_none(values: dict[str, str | None]) -> Json:
    return {key: value for key, value in values.items() if value is not None}


def _contact_card(card: ContactCard) -> Json:
    name = card.name
    body: Json = {
        "name": _drop_none(
            {
                "formatted_name": name.formatted_name,
                "first_name": name.first_name,
                "last_name": name.last_name,
                "middle_name": name.middle_name,
                "prefix": name.prefix,
                "suffix": name.suffix,
            }
        )
    }
    if card.phones:
        body["phones"] = [
            _drop_none({"phone": p.phone, "type": p.type, "wa_id": p.wa_id}) for p in card.phones
        ]
    if card.emails:
        body["emails"] = [_drop_none({"email": e.email, "type": e.type}) for e in card.emails]
    if card.urls:
        body["urls"] = [_drop_none({"url": u.url, "type": u.type}) for u in card.urls]
    if card.addresses:
        body["addresses"] = [
            _drop_none(
                {
                    "street": a.street,
                    "city": a.city,
                    "state": a.state,
                    "zip": a.zip,
                    "country": a.country,
                    "country_code": a.country_code,
                    "type": a.type,
                }
            )
            for a in card.addresses
        ]
    if card.org is not None:
        body["org"] = _drop_none(
            {"company": card.org.company, "department": card.org.department, "title": card.org.title}
        )
    if card.birthday is not None:
        body["birthday"] = card.birthday
    return body


@dataclass(frozen=True, slots=True)
class ReactionMessage:
    """React to an inbound message; an empty ``emoji`` removes our reaction."""

    message_id: str
    emoji: str

    def __post_init__(self) -> None:
        _check_id(self.message_id, "message id")
        _check(len(self.emoji) <= 16, "a reaction is a single emoji")

    def payload(self) -> Json:
        return {"type": "reaction", "reaction": {"message_id": self.message_id, "emoji": self.emoji}}


# --- interactive ----------------------------------------------------------------------------------


def _interactive(kind: str, body: str, action: Json, header: str | None, footer: str | None) -> Json:
    interactive: Json = {"type": kind, "body": {"text": body}, "action": action}
    if header is not None:
        interactive["header"] = {"type": "text", "text": header}
    if footer is not None:
        interactive["footer"] = {"text": footer}
    return {"type": "interactive", "interactive": interactive}


@dataclass(frozen=True, slots=True)
class ReplyButton:
    id: str
    title: str

    def __post_init__(self) -> None:
        _check_length(self.id, 256, "button id", required=True)
        _check_length(self.title, 20, "button title", required=True)


@dataclass(frozen=True, slots=True)
class ReplyButtonsMessage:
    body: str
    buttons: tuple[ReplyButton, ...]
    header: str | None = None
    footer: str | None = None

    def __post_init__(self) -> None:
        _check_length(self.body, 1024, "body", required=True)
        _check_length(self.header, 60, "header")
        _check_length(self.footer, 60, "footer")
        _check(1 <= len(self.buttons) <= 3, "between 1 and 3 reply buttons")
        _check(len({b.title for b in self.buttons}) == len(self.buttons), "button titles must be unique")
        _check(len({b.id for b in self.buttons}) == len(self.buttons), "button ids must be unique")

    def payload(self) -> Json:
        buttons: list[JsonValue] = [
            {"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in self.buttons
        ]
        return _interactive("button", self.body, {"buttons": buttons}, self.header, self.footer)


@dataclass(frozen=True, slots=True)
class ListRow:
    id: str
    title: str
    description: str | None = None

    def __post_init__(self) -> None:
        _check_length(self.id, 200, "row id", required=True)
        _check_length(self.title, 24, "row title", required=True)
        _check_length(self.description, 72, "row description")

    def payload(self) -> Json:
        row: Json = {"id": self.id, "title": self.title}
        if self.description is not None:
            row["description"] = self.description
        return row


@dataclass(frozen=True, slots=True)
class ListSection:
    title: str | None
    rows: tuple[ListRow, ...]

    def __post_init__(self) -> None:
        _check_length(self.title, 24, "section title")
        _check(len(self.rows) >= 1, "each section needs a row")


@dataclass(frozen=True, slots=True)
class ListMessage:
    body: str
    button: str
    sections: tuple[ListSection, ...]
    header: str | None = None
    footer: str | None = None

    def __post_init__(self) -> None:
        _check_length(self.body, 4096, "body", required=True)
        _check_length(self.button, 20, "list button", required=True)
        _check_length(self.header, 60, "header")
        _check_length(self.footer, 60, "footer")
        _check(1 <= len(self.sections) <= 10, "between 1 and 10 sections")
        _check(len(self.sections) == 1 or all(s.title for s in self.sections), "sections need titles")
        rows = [row for section in self.sections for row in section.rows]
        _check(len(rows) <= 10, "at most 10 rows in all")
        _check(len({row.id for row in rows}) == len(rows), "row ids must be unique")

    def payload(self) -> Json:
        sections: list[JsonValue] = []
        for section in self.sections:
            rendered: Json = {"rows": [row.payload() for row in section.rows]}
            if section.title is not None:
                rendered["title"] = section.title
            sections.append(rendered)
        action: Json = {"button": self.button, "sections": sections}
        return _interactive("list", self.body, action, self.header, self.footer)


@dataclass(frozen=True, slots=True)
class CtaUrlMessage:
    body: str
    display_text: str
    url: str
    header: str | None = None
    footer: str | None = None

    def __post_init__(self) -> None:
        _check_length(self.body, 1024, "body", required=True)
        _check_length(self.display_text, 20, "display text", required=True)
        _check(self.url.startswith(("https://", "http://")), "the URL must be http(s)")
        _check_length(self.url, 2000, "URL")
        _check_length(self.header, 60, "header")
        _check_length(self.footer, 60, "footer")

    def payload(self) -> Json:
        action: Json = {"name": "cta_url", "parameters": {"display_text": self.display_text, "url": self.url}}
        return _interactive("cta_url", self.body, action, self.header, self.footer)


# --- templates --------------------------------------------------------------------------------------

_PARAMETER_NAME = re.compile(r"[a-z0-9_]{1,64}")
# Meta rejects parameter text with a new line, a tab or more than four spaces in a row (132018).
_FORBIDDEN_IN_PARAMETER = re.compile(r"[\n\t]| {5,}")


def _check_name(name: str | None) -> None:
    _check(
        name is None or _PARAMETER_NAME.fullmatch(name) is not None, "parameter names are lower_snake_case"
    )


def _named(parameter: Json, name: str | None) -> Json:
    if name is not None:
        parameter["parameter_name"] = name
    return parameter


@dataclass(frozen=True, slots=True)
class TextParam:
    text: str
    name: str | None = None  # set for named-parameter templates, None for positional ones

    def __post_init__(self) -> None:
        _check(bool(self.text), "template text parameters must not be empty")
        _check(
            _FORBIDDEN_IN_PARAMETER.search(self.text) is None, "no new lines, tabs or 5+ spaces in parameters"
        )
        _check_name(self.name)

    def payload(self) -> Json:
        return _named({"type": "text", "text": self.text}, self.name)


@dataclass(frozen=True, slots=True)
class CurrencyParam:
    fallback_value: str
    code: str
    amount_1000: int
    name: str | None = None

    def __post_init__(self) -> None:
        _check(re.fullmatch(r"[A-Z]{3}", self.code) is not None, "currency code is ISO 4217")
        _check_name(self.name)

    def payload(self) -> Json:
        currency: Json = {
            "fallback_value": self.fallback_value,
            "code": self.code,
            "amount_1000": self.amount_1000,
        }
        return _named({"type": "currency", "currency": currency}, self.name)


@dataclass(frozen=True, slots=True)
class DateTimeParam:
    fallback_value: str
    name: str | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)

    def payload(self) -> Json:
        return _named({"type": "date_time", "date_time": {"fallback_value": self.fallback_value}}, self.name)


@dataclass(frozen=True, slots=True)
class MediaParam:
    """A template's media header: by uploaded ``media_id`` or by public ``link``."""

    media_kind: MediaKind
    media_id: str | None = None
    link: str | None = None
    filename: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        _check(self.media_kind in {MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.DOCUMENT}, "header media kind")
        _check((self.media_id is None) != (self.link is None), "exactly one of media id and link")
        _check(
            self.filename is None or self.media_kind is MediaKind.DOCUMENT, "only documents have a filename"
        )
        if self.media_id is not None:
            _check_id(self.media_id, "media id")
        _check_name(self.name)

    def payload(self) -> Json:
        media: Json = {"id": self.media_id} if self.media_id is not None else {"link": self.link}
        if self.filename is not None:
            media["filename"] = self.filename
        kind = self.media_kind.value
        return _named({"type": kind, kind: media}, self.name)


@dataclass(frozen=True, slots=True)
class LocationParam:
    latitude: float
    longitude: float
    location_name: str | None = None
    address: str | None = None

    def payload(self) -> Json:
        location: Json = {"latitude": self.latitude, "longitude": self.longitude}
        if self.location_name is not None:
            location["name"] = self.location_name
        if self.address is not None:
            location["address"] = self.address
        return {"type": "location", "location": location}


@dataclass(frozen=True, slots=True)
class PayloadParam:
    """Quick-reply button payload, echoed back in the inbound ``button.payload``."""

    payload_text: str

    def payload(self) -> Json:
        return {"type": "payload", "payload": self.payload_text}


@dataclass(frozen=True, slots=True)
class CouponCodeParam:
    coupon_code: str

    def __post_init__(self) -> None:
        _check_length(self.coupon_code, 15, "coupon code", required=True)

    def payload(self) -> Json:
        return {"type": "coupon_code", "coupon_code": self.coupon_code}


type HeaderParam = TextParam | MediaParam | LocationParam
type BodyParam = TextParam | CurrencyParam | DateTimeParam
type ButtonParam = TextParam | PayloadParam | CouponCodeParam


def _check_naming(parameters: Sequence[HeaderParam | BodyParam]) -> None:
    named = [getattr(p, "name", None) is not None for p in parameters]
    _check(all(named) or not any(named), "parameters are either all named or all positional")


@dataclass(frozen=True, slots=True)
class HeaderParameters:
    parameters: tuple[HeaderParam, ...]

    def __post_init__(self) -> None:
        _check(len(self.parameters) == 1, "a header takes exactly one parameter")

    def payload(self) -> Json:
        return {"type": "header", "parameters": [p.payload() for p in self.parameters]}


@dataclass(frozen=True, slots=True)
class BodyParameters:
    parameters: tuple[BodyParam, ...]

    def __post_init__(self) -> None:
        _check(len(self.parameters) >= 1, "a body component needs parameters")
        _check_naming(self.parameters)

    def payload(self) -> Json:
        return {"type": "body", "parameters": [p.payload() for p in self.parameters]}


ButtonSubType = Literal["quick_reply", "url", "copy_code", "flow", "catalog", "mpm", "voice_call"]


@dataclass(frozen=True, slots=True)
class ButtonParameters:
    sub_type: ButtonSubType
    index: int
    parameters: tuple[ButtonParam, ...]

    def __post_init__(self) -> None:
        _check(0 <= self.index < 10, "button index is 0-9")

    def payload(self) -> Json:
        return {
            "type": "button",
            "sub_type": self.sub_type,
            "index": str(self.index),
            "parameters": [p.payload() for p in self.parameters],
        }


type TemplateComponentParameters = HeaderParameters | BodyParameters | ButtonParameters


@dataclass(frozen=True, slots=True)
class TemplateMessage:
    """An approved template by (name, language), with its variables filled in."""

    name: str
    language: str
    components: tuple[TemplateComponentParameters, ...] = ()

    def __post_init__(self) -> None:
        _check(re.fullmatch(r"[A-Za-z0-9_]{1,512}", self.name) is not None, "template name")
        _check(re.fullmatch(r"[A-Za-z0-9_-]{2,32}", self.language) is not None, "template language code")
        headers = [c for c in self.components if isinstance(c, HeaderParameters)]
        bodies = [c for c in self.components if isinstance(c, BodyParameters)]
        _check(len(headers) <= 1 and len(bodies) <= 1, "at most one header and one body component")
        indexes = [c.index for c in self.components if isinstance(c, ButtonParameters)]
        _check(len(set(indexes)) == len(indexes), "button indexes must be unique")

    def payload(self) -> Json:
        template: Json = {"name": self.name, "language": {"policy": "deterministic", "code": self.language}}
        if self.components:
            template["components"] = [c.payload() for c in self.components]
        return {"type": "template", "template": template}


type OutboundMessage = (
    TextMessage
    | MediaMessage
    | LocationMessage
    | ContactsMessage
    | ReactionMessage
    | ReplyButtonsMessage
    | ListMessage
    | CtaUrlMessage
    | TemplateMessage
)
