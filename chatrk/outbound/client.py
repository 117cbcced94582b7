"""The Graph API client for one channel, with its decrypted token and the channel's base URL."""

from __future__ import annotations

import httpx

from chatrk.crypto.fields import open_for_system
from chatrk.inbox.models import Channel
from chatrk.whatsapp.client import GraphClient, GraphSettings

# Tests and the bench point every channel's client at the emulator through this transport.
_transport: httpx.BaseTransport | None = None


def use_transport(transport: httpx.BaseTransport | None) -> None:
    global _transport
    _transport = transport


def client_for(channel: Channel, *, transport: httpx.BaseTransport | None = None) -> GraphClient:
    settings = GraphSettings(base_url=channel.graph_url, api_version=channel.api_version)
    token = open_for_system(channel, "access_token")
    return GraphClient(token, settings=settings, transport=transport or _transport)
