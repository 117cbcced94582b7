"""The ``wired_server`` fixture itself: a customer's text travels the real path, a reply goes out."""

from __future__ import annotations

import pytest

from chatrk.audit.actions import Actor
from chatrk.core.roles import Role
from chatrk.crypto.fields import open_for_system
from chatrk.inbox.models import Conversation, Message
from chatrk.outbound.actions import SendBy, do_enqueue
from chatrk.web.tests.conftest import WiredServer
from chatrk.whatsapp.messages import TextMessage

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_customer_writes_and_an_answer_is_delivered_and_read(wired_server: WiredServer) -> None:
    wired_server.customer_writes("447700900101", "Is my order on its way?", name="Amelia Hart")
    wired_server.wait_for(
        lambda: Message.objects.filter(direction=Message.Direction.INBOUND).exists(), what="the inbound text"
    )
    inbound = Message.objects.get(direction=Message.Direction.INBOUND)
    assert open_for_system(inbound, "body") == "Is my order on its way?"
    conversation = Conversation.objects.select_related("channel", "contact").get(pk=inbound.conversation_id)
    owner = wired_server.owner
    by = SendBy(owner.workspace_id, Actor.user(owner.user_id), Role.OWNER, user_id=owner.user_id)
    sent = do_enqueue(by, conversation, TextMessage("On its way!")).message
    wired_server.wait_for(
        lambda: Message.objects.get(pk=sent.pk).status == Message.Status.READ, what="the read tick"
    )
    received = wired_server.control.received("447700900101")
    assert [m["text"]["body"] for m in received if m["type"] == "text"] == ["On its way!"]
