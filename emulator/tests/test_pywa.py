"""pywa (PyPI, pinned dev dependency) as an independent client of the emulator and parser of its webhooks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pywa.client import WhatsApp
from pywa.types import templates as t
from pywa.types.base_update import RawUpdate
from pywa.types.callback import Button, FlowButton, Section, SectionList, SectionRow, URLButton
from pywa.types.others import Contact

from emulator.config import DEFAULT_APP_SECRET, DEFAULT_TOKEN, default_config
from emulator.testing import EmulatorServer, WebhookReceiver
from emulator.tests.conftest import CUSTOMER, PHONE, WABA

# Fields pywa 4.5 has no update class for (it ignores them quietly); recorded in docs/emulator.md.
PYWA_UNMODELLED_FIELDS = {"phone_number_quality_update"}
JPEG = b"\xff\xd8\xff" + b"0" * 64
# pywa declares `BodyText.params` without `self`/`@staticmethod`, which mypy reads as a method.
BODY_PARAMS: Any = t.BodyText.params
BODY = "Hello {{1}}, your order {{2}} has shipped and is on its way."


@pytest.fixture
def pywa_server() -> Iterator[EmulatorServer]:
    # pywa reads only the first update of a POST (see docs/emulator.md), so each update gets its own POST.
    config = default_config().with_behaviour(time_scale=0.0, webhook_batch_max=1)
    with EmulatorServer(config, receiver=WebhookReceiver(app_secret=DEFAULT_APP_SECRET)) as server:
        yield server


@pytest.fixture
def wa(pywa_server: EmulatorServer) -> WhatsApp:
    return WhatsApp(
        phone_id=PHONE,
        token=DEFAULT_TOKEN,
        session=pywa_server.session(),
        waba_id=WABA,
        app_secret=DEFAULT_APP_SECRET,
        verify_token="emulator-verify-token",
    )


def test_pywa_sends_every_message_type(pywa_server: EmulatorServer, wa: WhatsApp) -> None:
    inbound = pywa_server.control.text(CUSTOMER, "hi")["id"]
    sent = [
        wa.send_message(CUSTOMER, "hello", preview_url=True),
        wa.send_message(
            CUSTOMER,
            "pick",
            header="H",
            footer="F",
            buttons=[Button("Yes", callback_data="y"), Button("No", callback_data="n")],
        ),
        wa.send_message(
            CUSTOMER,
            "menu",
            buttons=SectionList(
                button_title="Menu",
                sections=[
                    Section(title="S", rows=[SectionRow(title="Row", callback_data="r1", description="d")])
                ],
            ),
        ),
        wa.send_message(CUSTOMER, "visit", buttons=URLButton(title="Open", url="https://x.test")),
        wa.send_message(
            CUSTOMER,
            "book",
            buttons=FlowButton(title="Book", flow_id="123", flow_token="tok", flow_message_version="3"),
        ),
        wa.send_image(CUSTOMER, "https://x.test/a.jpg", caption="c"),
        wa.send_video(CUSTOMER, "https://x.test/a.mp4"),
        wa.send_audio(CUSTOMER, "https://x.test/a.ogg", is_voice=True),
        wa.send_document(CUSTOMER, "https://x.test/a.pdf", filename="a.pdf"),
        wa.send_sticker(CUSTOMER, "https://x.test/a.webp"),
        wa.send_location(CUSTOMER, 1.0, 2.0, name="n", address="a"),
        wa.send_contact(
            CUSTOMER,
            Contact(
                name=Contact.Name(formatted_name="Jane", first_name="Jane"),
                phones=[Contact.Phone(phone="+16505550100", type="CELL")],
            ),
        ),
        wa.send_reaction(CUSTOMER, "👍", inbound),
        wa.remove_reaction(CUSTOMER, inbound),
    ]
    types = [pywa_server.emulator.messages[s.id].type for s in sent]
    assert types == [
        "text",
        "interactive",
        "interactive",
        "interactive",
        "interactive",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "location",
        "contacts",
        "reaction",
        "reaction",
    ]
    assert wa.mark_message_as_read(inbound).success
    assert wa.indicate_typing(inbound).success
    pywa_server.advance(5)
    assert len(pywa_server.control.received(CUSTOMER)) == len(sent)


def test_pywa_reads_phone_numbers(wa: WhatsApp) -> None:
    assert wa.get_business_phone_number().display_phone_number == "15550783881"
    assert [n.id for n in wa.get_business_phone_numbers()] == [PHONE]


def test_pywa_manages_media(pywa_server: EmulatorServer, wa: WhatsApp) -> None:
    pywa_server.control.text(CUSTOMER, "hi")
    media = wa.upload_media(JPEG, mime_type="image/jpeg", filename="a.jpg")
    url = wa.get_media_url(media.id)
    assert url.mime_type == "image/jpeg"
    assert wa.get_media_bytes(url.url) == JPEG
    assert wa.send_image(CUSTOMER, media.id).id
    assert wa.delete_media(media.id).success
    assert pywa_server.emulator.media[media.id].deleted


def test_pywa_manages_templates(pywa_server: EmulatorServer, wa: WhatsApp) -> None:
    template = t.Template(
        name="shipping",
        category=t.TemplateCategory.UTILITY,
        language=t.TemplateLanguage.ENGLISH_US,
        parameter_format=t.ParamFormat.POSITIONAL,
        components=[t.BodyText(BODY, "Ann", "42")],
    )
    created = wa.create_template(template)
    assert created.status == t.TemplateStatus.PENDING
    pywa_server.advance(60)
    details = wa.get_template(created.id)
    assert details.status == t.TemplateStatus.APPROVED
    listed = wa.get_templates()
    assert [d.name for d in listed] == ["shipping"]
    sent = wa.send_template(
        CUSTOMER,
        name="shipping",
        language=t.TemplateLanguage.ENGLISH_US,
        params=[BODY_PARAMS("Ann", "42")],
    )
    assert pywa_server.emulator.messages[sent.id].category == "utility"
    assert wa.delete_template("shipping").success


def drive_every_webhook(server: EmulatorServer, wa: WhatsApp) -> None:
    control = server.control
    inbound = control.text(CUSTOMER, "hi")["id"]
    for kind, params in [
        ("image", {}),
        ("video", {}),
        ("audio", {}),
        ("voice", {}),
        ("document", {}),
        ("sticker", {}),
        ("location", {"latitude": 1.0, "longitude": 2.0}),
        ("contacts", {}),
        ("button_reply", {"id": "y", "title": "Yes", "reply_to": inbound}),
        ("list_reply", {"id": "r", "title": "Row", "reply_to": inbound}),
        ("flow_reply", {"reply_to": inbound, "response": {"a": 1}}),
        ("button", {"payload": "STOP", "reply_to": inbound}),
        ("reaction", {"message_id": inbound, "emoji": "👍"}),
        ("reaction", {"message_id": inbound}),
        ("order", {}),
        ("referral", {}),
        ("unsupported", {}),
        ("identity_change", {}),
        ("revoke", {"original_message_id": inbound}),
        ("edit", {"original_message_id": inbound, "body": "x"}),
        ("text", {"body": "forwarded", "forwarded": True}),
    ]:
        control.customer_sends(CUSTOMER, kind, **params)
    voice = wa.send_audio(CUSTOMER, "https://x.test/v.ogg", is_voice=True).id
    wa.send_message("16505550000", "outside the window")  # failed 131047
    server.advance(5)
    control.play(CUSTOMER, voice)
    control.marketing_preference(CUSTOMER, "stop")
    control.set_phone(PHONE, throughput="HIGH")
    for event in ("ACCOUNT_VIOLATION", "ACCOUNT_RESTRICTION", "DISABLED_UPDATE", "ACCOUNT_DELETED"):
        control.account_event(WABA, event)
    created = wa.create_template(
        t.Template(
            name="promo",
            category=t.TemplateCategory.UTILITY,
            language=t.TemplateLanguage.ENGLISH_US,
            components=[t.BodyText("Hi {{1}}, our big sale has 20% off today.", "A")],
        )
    )
    server.advance(60)  # rejected: INCORRECT_CATEGORY
    approved = wa.create_template(
        t.Template(
            name="ok",
            category=t.TemplateCategory.UTILITY,
            language=t.TemplateLanguage.ENGLISH_US,
            components=[t.BodyText(BODY, "Ann", "42")],
        )
    )
    server.advance(60)
    with server.graph_client() as graph:  # shapes pywa's own client does not trigger
        graph.post(
            f"/{WABA}/message_templates",
            json={
                "name": "recat",
                "language": "en_US",
                "category": "UTILITY",
                "allow_category_change": True,
                "components": [
                    {"type": "BODY", "text": "Hi {{1}}, our big sale has 20% off all shoes today."}
                ],
            },
        )
        graph.post(
            f"/{approved.id}",
            json={
                "components": [
                    {
                        "type": "BODY",
                        "text": "Hello {{1}}, order {{2}} is packed and leaves our warehouse today.",
                    }
                ]
            },
        )
    server.advance(60)  # category update + approved edit (components update)
    control.template_quality(approved.id, "RED")
    server.settle()
    assert created.id
    control.customer_sends(CUSTOMER, "system", new_wa_id="16505559999", old_wa_id=CUSTOMER)
    server.settle()


def test_pywa_parses_every_webhook_the_emulator_sends(
    pywa_server: EmulatorServer, wa: WhatsApp, caplog: pytest.LogCaptureFixture
) -> None:
    drive_every_webhook(pywa_server, wa)
    assert pywa_server.receiver is not None
    received = pywa_server.receiver.received
    assert len(received) > 30
    parsed: dict[str, int] = {}
    unhandled: list[Any] = []
    for delivery in received:
        assert wa.webhook_update_validator(delivery.body, delivery.signature) is None
        raw = RawUpdate(delivery.body, hmac_header=delivery.signature, update_hash="emulator")
        handler = wa._get_handler_type(raw)
        if handler is None:
            unhandled.append(raw.field)
            continue
        update = wa._handlers_to_updates[handler].from_update(client=wa, update=raw)
        parsed[type(update).__name__] = parsed.get(type(update).__name__, 0) + 1
    with caplog.at_level(logging.ERROR, logger="pywa"):
        for delivery in received:
            assert wa.webhook_update_handler(delivery.body) == ("ok", 200)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert set(unhandled) <= PYWA_UNMODELLED_FIELDS
    assert {
        "Message",
        "MessageStatus",
        "CallbackButton",
        "CallbackSelection",
        "FlowCompletion",
        "TemplateStatusUpdate",
        "TemplateQualityUpdate",
        "TemplateCategoryUpdate",
        "TemplateComponentsUpdate",
        "UserMarketingPreferences",
        "PhoneNumberChange",
        "AccountUpdate",
    } <= set(parsed)
