"""The composer's forms: a template's parameter fields, and the checks an attachment must pass
(REFERENCE §4: the Cloud API's types and sizes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chatrk.msgtemplates.lint import MEDIA_HEADER_FORMATS, VARIABLE
from chatrk.msgtemplates.models import Template
from chatrk.msgtemplates.sending import TemplateValues
from chatrk.whatsapp.enums import MediaKind
from chatrk.whatsapp.media import KB, MB, media_limit
from chatrk.whatsapp.messages import MediaParam

ACCEPTED = (
    "JPEG or PNG images up to 5 MB; MP4 or 3GPP videos up to 16 MB; AAC, AMR, MP3, MP4 or OGG audio up "
    "to 16 MB; PDF, text, Word, Excel or PowerPoint documents up to 100 MB; WebP stickers up to 500 KB"
)


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # the form field: header__1, body__customer_name, button__1
    label: str
    variable: str  # as written in the template: 1, customer_name, or the button's index


@dataclass(frozen=True, slots=True)
class TemplateFields:
    """The values one template needs: text parameters in the template's order, and a media header."""

    header: tuple[Field, ...]
    body: tuple[Field, ...]
    buttons: tuple[Field, ...]
    header_media: str  # "", "image", "video", "document" or "location"
    named: bool

    @property
    def all(self) -> tuple[Field, ...]:
        return self.header + self.body + self.buttons

    def posted(self, data: Mapping[str, Any]) -> dict[str, str]:
        return {f.name: str(data.get(f.name, ""))[:1024] for f in self.all}

    def missing(self, values: Mapping[str, str]) -> dict[str, str]:
        return {f.name: "Fill this in." for f in self.all if not values.get(f.name, "").strip()}


def _component(template: Template, kind: str) -> Mapping[str, Any] | None:
    for component in template.components:
        if isinstance(component, Mapping) and str(component.get("type", "")).upper() == kind:
            return component
    return None


def _variables(component: Mapping[str, Any] | None) -> list[str]:
    text = component.get("text") if component else None
    if not isinstance(text, str):
        return []
    return list(dict.fromkeys(m.group(1) for m in VARIABLE.finditer(text)))


def _label(where: str, variable: str, named: bool) -> str:
    return f"{where}: {variable.replace('_', ' ')}" if named else f"{where} {{{{{variable}}}}}"


def template_fields(template: Template) -> TemplateFields:
    named = template.parameter_format == "NAMED"
    header = _component(template, "HEADER")
    header_format = str(header.get("format", "")).upper() if header else ""
    header_fields: tuple[Field, ...] = ()
    if header_format == "TEXT":
        header_fields = tuple(
            Field(f"header__{v}", _label("Header", v, named), v) for v in _variables(header)
        )
    if template.category == "AUTHENTICATION":
        body_fields: tuple[Field, ...] = (Field("body__code", "Verification code", "code"),)
    else:
        body_fields = tuple(
            Field(f"body__{v}", _label("Body", v, named), v) for v in _variables(_component(template, "BODY"))
        )
    buttons = _component(template, "BUTTONS")
    listed = buttons.get("buttons") if buttons else None
    button_fields: list[Field] = []
    for index, button in enumerate(listed if isinstance(listed, list) else []):
        if not isinstance(button, Mapping):
            continue
        kind = str(button.get("type", "")).upper()
        text = str(button.get("text", "") or kind.title())
        if kind == "URL" and "{{" in str(button.get("url", "")):
            button_fields.append(
                Field(f"button__{index}", f"Button “{text}”: end of the web address", str(index))
            )
        elif kind == "COPY_CODE":
            button_fields.append(Field(f"button__{index}", f"Button “{text}”: coupon code", str(index)))
    media = header_format.lower() if header_format in (*MEDIA_HEADER_FORMATS, "LOCATION") else ""
    return TemplateFields(header_fields, body_fields, tuple(button_fields), media, named)


def template_values(
    fields: TemplateFields,
    values: Mapping[str, str],
    *,
    placeholders: bool = False,
    header_media: MediaParam | None = None,
) -> TemplateValues:
    """Form values as ``build_send`` takes them: by name for named templates, in order otherwise.
    With ``placeholders`` (the preview), a blank value shows as ``{{name}}``, never as an example."""

    def value(field: Field) -> str:
        given = values.get(field.name, "").strip()
        return given or (f"{{{{{field.variable}}}}}" if placeholders else "")

    def part(group: tuple[Field, ...]) -> Mapping[str, str] | tuple[str, ...]:
        if fields.named or placeholders:
            return {f.variable: value(f) for f in group}
        return tuple(value(f) for f in group)

    buttons = {int(f.variable): value(f) for f in fields.buttons if value(f)}
    return TemplateValues(
        body=part(fields.body), header=part(fields.header), header_media=header_media, buttons=buttons
    )


# --- attachments -----------------------------------------------------------------------------------


def media_kind_of(mime_type: str) -> MediaKind | None:
    """How WhatsApp sends a file of this type: stickers are WebP, other images are photos."""
    if media_limit(mime_type) is None:
        return None
    if mime_type == "image/webp":
        return MediaKind.STICKER
    major = mime_type.split("/", 1)[0]
    return {"image": MediaKind.IMAGE, "video": MediaKind.VIDEO, "audio": MediaKind.AUDIO}.get(
        major, MediaKind.DOCUMENT
    )


def _size(limit: int) -> str:
    return f"{limit // MB} MB" if limit >= MB else f"{limit // KB} KB"


def attachment_problem(mime_type: str, size: int) -> str:
    """Why WhatsApp would refuse this file, in words; "" when it is acceptable."""
    limit = media_limit(mime_type)
    if limit is None:
        return f"WhatsApp does not accept this type of file. It takes {ACCEPTED}."
    if size <= 0:
        return "The file is empty."
    if size > limit:
        return f"The file is too large: WhatsApp takes files of this type up to {_size(limit)}."
    return ""
