"""The inbox's list and thread as a member sees them (Django's client; the browser tests are apart)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Role
from chatrk.inbox.models import Channel, Conversation, ConversationLabel, Label, Message
from chatrk.testing import (
    add_member,
    make_channel,
    make_conversation,
    make_message,
    make_user,
    make_workspace,
    signed_in,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner() -> Membership:
    return add_member(make_workspace("Harbour Books"), make_user(name="Rae Owner"), Role.OWNER)


@pytest.fixture
def channel(owner: Membership) -> Channel:
    return make_channel(owner)


def client_for(member: Membership) -> Client:
    return signed_in(member.user)


def inbox(member: Membership, **params: str) -> Any:
    return client_for(member).get(f"/w/{member.workspace.slug}/inbox/", params)


def thread_url(member: Membership, conversation: Conversation) -> str:
    return f"/w/{member.workspace.slug}/inbox/c/{conversation.pk}/"


def test_the_list_shows_names_and_the_thread_shows_messages(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel, "447700900101", name="Amelia Hart")
    make_message(conversation, "Where is my <b>order</b>?")
    page = inbox(owner, view="all")
    assert page.status_code == 200
    assert "Amelia Hart" in page.content.decode()
    thread = client_for(owner).get(thread_url(owner, conversation))
    html = thread.content.decode()
    assert "Where is my &lt;b&gt;order&lt;/b&gt;?" in html
    assert "<b>order</b>" not in html
