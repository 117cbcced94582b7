"""Chatrk ↔ Meta for templates: the channel's Graph client, and Meta's template objects as our documents."""

from __future__ import annotations

import httpx

from chatrk.crypto.fields import open_for_system
from chatrk.inbox.models import Channel
from chatrk.whatsapp.client import GraphClient, GraphSettings
from chatrk.whatsapp.payloads import JsonValue
from chatrk.whatsapp.templates import TemplateButton, TemplateComponent, TemplateDefinition


def graph_for(channel: Channel, *, transport: httpx.BaseTransport | None = None) -> GraphClient:
    """A client for the channel's WABA, its token decrypted for machine use only."""
    token = str(open_for_system(channel, "access_token") or "")
    settings = GraphSettings(base_url=channel.graph_url, api_version=channel.api_version)
    return GraphClient(token, settings=settings, transport=transport)


def _button(button: TemplateButton) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {"type": button.type.value}
    for key in ("text", "url", "phone_number", "otp_type"):
        value = getattr(button, key)
        if value is not None:
            out[key] = value
    if button.examples:
        out["example"] = button.examples[0] if button.type.value == "COPY_CODE" else list(button.examples)
    return out


def _component(component: TemplateComponent) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {"type": component.type.value}
    if component.format is not None:
        out["format"] = component.format.value
    if component.text is not None:
        out["text"] = component.text
    if component.buttons:
        out["buttons"] = [_button(b) for b in component.buttons]
    if component.cards:
        out["cards"] = [{"components": [_component(c) for c in card]} for card in component.cards]
    if component.examples and component.variables:
        examples: list[JsonValue] = list(component.examples)
        if component.type.value == "BODY":
            out["example"] = {"body_text": [examples]}
        elif component.type.value == "HEADER":
            out["example"] = {"header_text": examples}
    if component.add_security_recommendation:
        out["add_security_recommendation"] = True
    if component.code_expiration_minutes is not None:
        out["code_expiration_minutes"] = component.code_expiration_minutes
    return out


def components_from_meta(definition: TemplateDefinition) -> list[JsonValue]:
    """Meta's listed components as the JSON document Chatrk keeps (examples where Meta gave them)."""
    return [_component(c) for c in definition.components]
