"""A sent template keeps the text the customer read (encrypted, as its body) and the thread shows it,
escaped; editing the template later does not change history; older messages fall back to name + values."""

from __future__ import annotations

import pytest

from chatrk.crypto.fields import open_for_system
from chatrk.inbox.models import Message
from chatrk.msgtemplates.models import Template
from chatrk.msgtemplates.sending import TemplateValues, as_sent, build_send
from chatrk.msgtemplates.testing import definition, make_channel, make_template
from chatrk.outbound.actions import do_enqueue
from chatrk.outbound.tests.conftest import World
from chatrk.testing import signed_in
from chatrk.whatsapp.messages import BodyParameters, CurrencyParam, TemplateMessage, TextParam

pytestmark = pytest.mark.django_db

HOSTILE = "<b>Noor</b>"


def sent_template(world: World, name: str = "order_update") -> Message:
    template = Template.objects.get(workspace_id=world.workspace_id, name=name)
    values = TemplateValues(body=[HOSTILE, "A-1001"], header=["A-1"], buttons={1: "A1"})
    conversation = world.conversation()
    return do_enqueue(world.by(), conversation, build_send(template, values)).message


def thread_html(world: World, message: Message) -> str:
    url = f"/w/{world.owner.workspace.slug}/inbox/c/{message.conversation_id}/"
    response = signed_in(world.owner.user).get(url)
    assert response.status_code == 200
    return str(response.content.decode())


def test_the_full_text_is_kept_encrypted_with_the_message(world: World) -> None:
    message = sent_template(world)
    expected = (
        "Order A-1\n\nHello <b>Noor</b>, your order A-1001 has shipped and arrives soon."
        "\n\nAcme Shoes\n\n[Thanks]\n\n[Track]"
    )
    assert open_for_system(message, "body") == expected
    raw = Message.objects.filter(pk=message.pk).values_list("body", flat=True).get()
    assert "Noor" not in str(raw)  # stored encrypted like every body


def test_the_thread_shows_it_escaped_and_later_edits_do_not_rewrite_history(world: World) -> None:
    message = sent_template(world)
    html = thread_html(world, message)
    assert "Template “order_update”" in html
    assert "Hello &lt;b&gt;Noor&lt;/b&gt;, your order A-1001 has shipped" in html and "<b>Noor" not in html
    assert "Order A-1<br><br>Hello" in html and "<br><br>Acme Shoes<br><br>[Thanks]<br><br>[Track]" in html
    edited = definition("order_update")
    edited["components"][1]["text"] = "Hi {{1}}, parcel {{2}} is on its way."
    Template.objects.filter(workspace_id=world.workspace_id, name="order_update").update(
        components=edited["components"]
    )
    html = thread_html(world, message)
    assert "your order A-1001 has shipped" in html and "parcel" not in html


def test_a_message_sent_before_the_text_was_kept_shows_name_and_values(world: World) -> None:
    message = sent_template(world)
    Message.objects.filter(pk=message.pk).update(body=None)  # as older rows were stored
    html = thread_html(world, message)
    assert "Template “order_update”: A-1, &lt;b&gt;Noor&lt;/b&gt;, A-1001" in html
    assert "[Thanks]" not in html and "[template]" not in html


def test_named_values_currency_fallbacks_and_a_media_header(world: World) -> None:
    named = make_template(
        world.owner.workspace, channel=make_channel(world.owner.workspace), name="named_offer",
        parameter_format="NAMED",
        components=[
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1n"]}},
            {"type": "BODY", "text": "Hi {{first_name}}, you owe {{total}}.",
             "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ada"},
                                                    {"param_name": "total", "example": "$5"}]}},
        ],
    )  # fmt: skip
    sent = TemplateMessage("named_offer", "en_US", (BodyParameters((
        TextParam("Zoë", name="first_name"),
        CurrencyParam("€12.50", "EUR", 12500, name="total"),
    )),))  # fmt: skip
    assert as_sent(named, sent) == "[image]\n\nHi Zoë, you owe €12.50."
