"""Builders for outbound tests: a workspace with a channel on the emulator, contacts, conversations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import count

import pytest

from chatrk.audit.actions import Actor, Origin
from chatrk.consent.tests.helpers import grant
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Role
from chatrk.inbox.actions import ChannelSettings, connect_channel, contact_for, conversation_for
from chatrk.inbox.models import Channel, Conversation
from chatrk.msgtemplates.testing import make_template
from chatrk.outbound import client
from chatrk.outbound.actions import SendBy
from chatrk.testing import add_member, make_workspace
from emulator.config import default_config
from emulator.testing import EmulatorServer

PHONE_NUMBER_ID = "106540352242922"
TOKEN = "EMULATOR-ACCESS-TOKEN"
_customers = count(1)


def customer_number() -> str:
    return f"1650555{next(_customers):04d}"


@dataclass
class World:
    owner: Membership
    channel: Channel

    @property
    def workspace_id(self) -> int:
        return self.owner.workspace_id

    def by(self, role: str = Role.AGENT) -> SendBy:
        return SendBy(self.workspace_id, Actor.user(self.owner.user_id), role, user_id=self.owner.user_id)

    def conversation(
        self, wa_id: str | None = None, *, inbound_at: datetime | None = None, consent: bool = True
    ) -> Conversation:
        """A customer who wrote in (at ``inbound_at``) and, unless told otherwise, opted in to everything."""
        contact = contact_for(self.workspace_id, wa_id or customer_number())
        if consent:
            grant(self.owner.workspace, contact, ("marketing", "utility", "authentication"))
        conversation = conversation_for(self.channel, contact)
        conversation.last_inbound_at = inbound_at if inbound_at is not None else now()
        conversation.save(update_fields=["last_inbound_at"])
        return Conversation.objects.select_related("channel", "contact").get(pk=conversation.pk)


def make_world(phone_number_id: str = PHONE_NUMBER_ID, *, level: str = "STANDARD") -> World:
    owner = add_member(make_workspace(), role=Role.OWNER)
    spec = ChannelSettings(
        "Support", phone_number_id, "102290129340398", "15550783881", TOKEN, "emulator-app-secret"
    )
    channel = connect_channel(owner, spec, origin=Origin())
    channel.throughput_level = level
    channel.save(update_fields=["throughput_level"])
    # The template the tests send, approved by a compliance officer and by Meta.
    make_template(owner.workspace, channel=channel, name="order_update", stage="live")
    return World(owner, channel)


@pytest.fixture
def world(db: None) -> World:
    return make_world()


@pytest.fixture(autouse=True)
def _media_dir(tmp_path_factory: pytest.TempPathFactory, settings: object) -> None:
    settings.MEDIA_DIR = tmp_path_factory.mktemp("media")  # type: ignore[attr-defined]


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(default_config().with_behaviour(time_scale=0.0)) as server:
        client.use_transport(server.transport)
        try:
            yield server
        finally:
            client.use_transport(None)
