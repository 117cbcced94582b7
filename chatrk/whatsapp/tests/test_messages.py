"""Outbound builders: the JSON Meta expects, and local refusals of what Meta would refuse."""

from __future__ import annotations

from typing import Any

import pytest

from chatrk.whatsapp.enums import MediaKind
from chatrk.whatsapp.messages import (
    BodyParameters,
    ButtonParameters,
    ContactsMessage,
    CouponCodeParam,
    CtaUrlMessage,
    HeaderParameters,
    InvalidRequest,
    ListMessage,
    ListRow,
    ListSection,
    LocationMessage,
    MediaMessage,
    MediaParam,
    ReactionMessage,
    ReplyButton,
    ReplyButtonsMessage,
    TemplateMessage,
    TextMessage,
    TextParam,
)
from chatrk.whatsapp.payloads import ContactCard, ContactEmail, ContactName, ContactOrg, ContactPhone


def test_text() -> None:
    assert TextMessage("hi", preview_url=True).payload() == {
        "type": "text",
        "text": {"body": "hi", "preview_url": True},
    }


def test_media_by_id() -> None:
    assert MediaMessage(MediaKind.DOCUMENT, "123", caption="c", filename="a.pdf").payload() == {
        "type": "document",
        "document": {"id": "123", "caption": "c", "filename": "a.pdf"},
    }
    assert MediaMessage(MediaKind.AUDIO, "9", voice=True).payload() == {
        "type": "audio",
        "audio": {"id": "9", "voice": True},
    }


def test_location() -> None:
    assert LocationMessage(51.5, -0.12, name="HQ", address="1 Road").payload() == {
        "type": "location",
        "location": {"latitude": 51.5, "longitude": -0.12, "name": "HQ", "address": "1 Road"},
    }


def test_contacts() -> None:
    card = ContactCard(
        name=ContactName(formatted_name="Ann Lee", first_name="Ann"),
        phones=(ContactPhone(phone="+1 555", type="CELL"),),
        emails=(ContactEmail(email="a@example.com"),),
        org=ContactOrg(company="ACME"),
    )
    assert ContactsMessage((card,)).payload() == {
        "type": "contacts",
        "contacts": [
            {
                "name": {"formatted_name": "Ann Lee", "first_name": "Ann"},
                "phones": [{"phone": "+1 555", "type": "CELL"}],
                "emails": [{"email": "a@example.com"}],
                "org": {"company": "ACME"},
            }
        ],
    }


def test_reaction_and_its_removal() -> None:
    assert ReactionMessage("wamid.X", "\N{THUMBS UP SIGN}").payload()["reaction"] == {
        "message_id": "wamid.X",
        "emoji": "\N{THUMBS UP SIGN}",
    }
    assert ReactionMessage("wamid.X", "").payload()["reaction"] == {"message_id": "wamid.X", "emoji": ""}


def test_reply_buttons() -> None:
    message = ReplyButtonsMessage(
        body="Pick one", buttons=(ReplyButton("yes", "Yes"), ReplyButton("no", "No")), header="Q", footer="F"
    )
    assert message.payload() == {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "header": {"type": "text", "text": "Q"},
            "body": {"text": "Pick one"},
            "footer": {"text": "F"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                    {"type": "reply", "reply": {"id": "no", "title": "No"}},
                ]
            },
        },
    }


def test_list() -> None:
    message = ListMessage(
        body="Menu",
        button="Open",
        sections=(ListSection("Mains", (ListRow("r1", "Burger", "Beef"), ListRow("r2", "Salad"))),),
    )
    assert message.payload()["interactive"] == {
        "type": "list",
        "body": {"text": "Menu"},
        "action": {
            "button": "Open",
            "sections": [
                {
                    "title": "Mains",
                    "rows": [
                        {"id": "r1", "title": "Burger", "description": "Beef"},
                        {"id": "r2", "title": "Salad"},
                    ],
                }
            ],
        },
    }


def test_cta_url() -> None:
    message = CtaUrlMessage(body="See it", display_text="Open", url="https://example.com/x")
    assert message.payload()["interactive"] == {
        "type": "cta_url",
        "body": {"text": "See it"},
        "action": {"name": "cta_url", "parameters": {"display_text": "Open", "url": "https://example.com/x"}},
    }


def test_template_with_named_parameters() -> None:
    message = TemplateMessage(
        name="order_update",
        language="en_US",
        components=(
            HeaderParameters((MediaParam(MediaKind.DOCUMENT, media_id="77", filename="invoice.pdf"),)),
            BodyParameters((TextParam("Ann", name="first_name"), TextParam("#42", name="order_id"))),
            ButtonParameters("url", 0, (TextParam("track/42"),)),
            ButtonParameters("copy_code", 1, (CouponCodeParam("SAVE10"),)),
        ),
    )
    template: Any = message.payload()["template"]
    assert template["language"] == {"policy": "deterministic", "code": "en_US"}
    header, body, url_button, coupon = template["components"]
    assert header == {
        "type": "header",
        "parameters": [{"type": "document", "document": {"id": "77", "filename": "invoice.pdf"}}],
    }
    assert body["parameters"] == [
        {"type": "text", "text": "Ann", "parameter_name": "first_name"},
        {"type": "text", "text": "#42", "parameter_name": "order_id"},
    ]
    assert url_button == {
        "type": "button",
        "sub_type": "url",
        "index": "0",
        "parameters": [{"type": "text", "text": "track/42"}],
    }
    assert coupon["parameters"] == [{"type": "coupon_code", "coupon_code": "SAVE10"}]


def test_template_without_parameters() -> None:
    assert TemplateMessage("hello_world", "en_US").payload() == {
        "type": "template",
        "template": {"name": "hello_world", "language": {"policy": "deterministic", "code": "en_US"}},
    }


@pytest.mark.parametrize(
    "build",
    [
        lambda: TextMessage(""),
        lambda: TextMessage("x" * 4097),
        lambda: MediaMessage(MediaKind.STICKER, "1", caption="no"),
        lambda: MediaMessage(MediaKind.IMAGE, "1", filename="a.jpg"),
        lambda: MediaMessage(MediaKind.VIDEO, "1", voice=True),
        lambda: MediaMessage(MediaKind.IMAGE, "https://public.example/leak.jpg x"),
        lambda: LocationMessage(91, 0),
        lambda: ContactsMessage(()),
        lambda: ReplyButtonsMessage("b", ()),
        lambda: ReplyButtonsMessage("b", tuple(ReplyButton(str(i), str(i)) for i in range(4))),
        lambda: ReplyButtonsMessage("b", (ReplyButton("1", "Same"), ReplyButton("2", "Same"))),
        lambda: ReplyButton("id", "x" * 21),
        lambda: ListMessage(
            "b", "open", tuple(ListSection(f"s{i}", (ListRow(f"r{i}", "t"),)) for i in range(11))
        ),
        lambda: ListMessage(
            "b", "open", (ListSection("s", tuple(ListRow(f"r{i}", "t") for i in range(11))),)
        ),
        lambda: ListMessage(
            "b", "open", (ListSection(None, (ListRow("a", "t"),)), ListSection("s", (ListRow("b", "t"),)))
        ),
        lambda: ListRow("id", "t", "d" * 73),
        lambda: CtaUrlMessage("b", "open", "javascript:alert(1)"),
        lambda: TextParam("line one\nline two"),
        lambda: TextParam("tab\there"),
        lambda: TextParam("five     spaces"),
        lambda: TextParam("Ann", name="First Name"),
        lambda: BodyParameters((TextParam("a", name="x"), TextParam("b"))),  # mixed named and positional
        lambda: HeaderParameters(()),
        lambda: MediaParam(MediaKind.IMAGE),
        lambda: MediaParam(MediaKind.IMAGE, media_id="1", link="https://x"),
        lambda: MediaParam(MediaKind.IMAGE, media_id="1", name="Logo Image"),
        lambda: TemplateMessage("bad name!", "en_US"),
        lambda: TemplateMessage(
            "ok", "en_US", (ButtonParameters("url", 0, ()), ButtonParameters("url", 0, ()))
        ),
        lambda: CouponCodeParam("x" * 16),
    ],
)
def test_refused_locally(build: Any) -> None:
    with pytest.raises(InvalidRequest):
        build()


def test_refusals_do_not_echo_content() -> None:
    with pytest.raises(InvalidRequest) as raised:
        TextParam("secret\ndiagnosis")
    assert "secret" not in str(raised.value)
    assert "diagnosis" not in str(raised.value)
