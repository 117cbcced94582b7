"""Channels (connected WhatsApp numbers): read-only over the API.

Connecting a number stays in the web interface and the CLI: it takes the number's access token and app
secret, and an API token able to plant credentials could redirect a workspace's traffic.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError

from chatrk.accounts.scopes import Scope
from chatrk.api.auth import require_scope
from chatrk.api.schemas import DENIED, Error, IdIn
from chatrk.inbox import queries
from chatrk.inbox.models import Channel

router = Router(tags=["channels"])


class ChannelOut(Schema):
    id: str
    name: str
    display_phone_number: str
    phone_number_id: str
    waba_id: str
    health: str
    quality_rating: str
    throughput_level: str
    messaging_tier: str
    health_checked_at: datetime | None
    auto_assign: bool  # round-robin: new conversations go in turn to members who may reply
    send_read_receipts: bool  # blue ticks when a member opens a conversation (default on)
    created_at: datetime


def channel_out(channel: Channel) -> ChannelOut:
    return ChannelOut(
        id=str(channel.pk),
        name=channel.name,
        display_phone_number=channel.display_phone_number,
        phone_number_id=channel.phone_number_id,
        waba_id=channel.waba_id,
        health=channel.health,
        quality_rating=channel.quality_rating,
        throughput_level=channel.throughput_level,
        messaging_tier=channel.messaging_tier,
        health_checked_at=channel.health_checked_at,
        auto_assign=channel.auto_assign,
        send_read_receipts=channel.send_read_receipts,
        created_at=channel.created_at,
    )


@router.get("/channels", response={200: list[ChannelOut], **DENIED})
def list_channels(request: HttpRequest) -> list[ChannelOut]:
    token = require_scope(request, Scope.CHANNELS_READ)
    return [channel_out(c) for c in queries.channels(token.workspace_id)]


@router.get("/channels/{channel_id}", response={200: ChannelOut, 404: Error, **DENIED})
def get_channel(request: HttpRequest, channel_id: IdIn) -> ChannelOut:
    token = require_scope(request, Scope.CHANNELS_READ)
    found = queries.channel(token.workspace_id, channel_id)
    if found is None:
        raise HttpError(404, "No such channel.")
    return channel_out(found)
