"""Integration with the Cloud API emulator: its signed webhooks go through our endpoint and drainer,
and inbound media is fetched from it with the channel's token. Nothing here calls Meta."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from chatrk.core.clock import now
from chatrk.crypto.fields import open_for_system
from chatrk.inbox.models import Channel, Media, Message
from chatrk.ingest import media
from chatrk.ingest.actions import apply_orphans, drain
from chatrk.ingest.tests.conftest import url
from chatrk.ingest.tests.test_samples import outbound
from chatrk.whatsapp.client import GraphClient, GraphSettings
from emulator.config import DEFAULT_APP_SECRET, DEFAULT_TOKEN, default_config
from emulator.testing import EmulatorServer, WebhookReceiver

pytestmark = pytest.mark.django_db

CUSTOMER = "16505551234"


@pytest.fixture
def server() -> Any:
    config = default_config().with_behaviour(time_scale=0.0)
    with EmulatorServer(config, receiver=WebhookReceiver(app_secret=DEFAULT_APP_SECRET)) as running:
        yield running


@pytest.fixture
def channel() -> Channel:
    from chatrk.ingest.tests.conftest import make_channel

    connected = make_channel("106540352242922", secret=DEFAULT_APP_SECRET)
    connected.access_token = DEFAULT_TOKEN
    connected.save()
    return connected


def forward(server: Any, channel: Channel) -> int:
    """Posts every webhook the emulator sent, with its own signature, to our endpoint."""
    sent = 0
    for webhook in server.receiver.received:
        headers = {"X-Hub-Signature-256": webhook.signature or ""}
        response = Client().post(url(channel), webhook.body, content_type="application/json", headers=headers)
        assert response.status_code == 200
        sent += 1
    server.receiver.received.clear()
    return sent


def test_a_customers_text_arrives_signed_and_lands_in_the_inbox(server: Any, channel: Channel) -> None:
    server.control.text(CUSTOMER, "Is my order on its way?")
    server.settle()
    assert forward(server, channel) >= 1
    drain()
    message = Message.objects.get(direction=Message.Direction.INBOUND)
    assert open_for_system(message, "body") == "Is my order on its way?"


def test_statuses_for_our_send_reach_the_message_even_before_its_wamid_is_stored(
    server: Any, channel: Channel
) -> None:
    server.control.text(CUSTOMER, "hi")  # opens the window
    graph = server.graph_client()
    answer = graph.post(
        "/106540352242922/messages",
        json={"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "hello"}},
    )
    wamid = answer.json()["messages"][0]["id"]
    server.advance(5)
    forward(server, channel)
    drain()  # the statuses arrive before the sender stored the wamid: kept as orphans
    ours = outbound(channel, wamid, CUSTOMER)
    apply_orphans(channel, wamid)
    ours.refresh_from_db()
    assert ours.status in {Message.Status.DELIVERED, Message.Status.READ}


def test_inbound_media_is_fetched_from_the_emulator_and_stored_encrypted(
    server: Any, channel: Channel
) -> None:
    picture = "emulated jpeg " * 100  # the control API takes text; the emulator stores its UTF-8 bytes
    server.control.customer_sends(CUSTOMER, "image", caption="receipt", data=picture, mime_type="image/jpeg")
    server.settle()
    forward(server, channel)
    drain()
    [media_id] = media.due()

    def client(ch: Channel) -> GraphClient:
        token = open_for_system(ch, "access_token")
        settings = GraphSettings(base_url="https://graph.facebook.com", api_version="v23.0")
        return GraphClient(token, settings=settings, transport=server.transport)

    assert media.fetch(media_id, client_factory=client) == "stored", Media.objects.get().error
    stored = Media.objects.get()
    assert media.read(stored) == picture.encode()
    assert stored.size == len(picture.encode())
    assert stored.stored_at is not None and stored.stored_at <= now()
