"""Every webhook sample Meta and pywa publish: accepted, drained without error, the right record made."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chatrk.core.clock import now
from chatrk.crypto.fields import open_for_system
from chatrk.inbox.actions import contact_for, conversation_for
from chatrk.inbox.models import Channel, Contact, Conversation, Media, Message
from chatrk.ingest.actions import drain, failure_reason
from chatrk.ingest.models import ChannelNotice, MediaFetch, Orphan, RawEvent
from chatrk.ingest.tests.conftest import SAMPLES_DIR, make_channel, post, sample, sample_names

pytestmark = pytest.mark.django_db

NOT_WEBHOOKS = {  # request/response bodies and template definitions, not webhooks
    "pywa__error_object_131047_reengagement.json",
    "pywa__error_object_131053_media_upload.json",
    "pywa__error_object_190_expired_token.json",
    "pywa__template_create__abandoned_cart.json",
    "pywa__template_create__authentication_code_autofill_button.json",
    "pywa__template_create__authentication_code_copy_code_button.json",
    "pywa__template_create__carousel_template_media_cards_v1.json",
    "pywa__template_create__coupon_code_fall2023_25off.json",
    "pywa__template_create__limited_time_offer_caribbean_pkg_2023.json",
    "whatsapp-nodejs-sdk__template_object_example.json",
}


def outbound(channel: Channel, wamid: str, wa_id: str = "972987654321") -> Message:
    contact = contact_for(channel.workspace_id, wa_id)
    conversation = conversation_for(channel, contact)
    message = Message(
        workspace_id=channel.workspace_id,
        conversation=conversation,
        contact=contact,
        channel=channel,
        direction=Message.Direction.OUTBOUND,
        kind="text",
        wamid=wamid,
        status=Message.Status.SENT,
        created_at=now(),
    )
    message.body = "Your order shipped"
    message.save()
    return message


def only_message() -> Message:
    [message] = Message.objects.filter(direction=Message.Direction.INBOUND)
    return message


def body_of(message: Message) -> str | None:
    value = open_for_system(message, "body")
    return value if value is None else str(value)


def payload_of(message: Message) -> dict[str, object]:
    value = open_for_system(message, "payload")
    assert isinstance(value, dict)
    return value


def text(expected: str, **payload: object) -> Callable[[Channel], None]:
    def check(channel: Channel) -> None:
        message = only_message()
        assert message.kind == "text" and body_of(message) == expected
        stored = payload_of(message)
        for key, value in payload.items():
            assert stored[key] == value

    return check


def media(kind: str, mime: str, caption: str | None = None, **payload: object) -> Callable[[Channel], None]:
    def check(channel: Channel) -> None:
        message = only_message()
        assert message.kind == kind and body_of(message) == caption
        stored = payload_of(message)
        assert stored["mime_type"] == mime and "url" not in stored
        for key, value in payload.items():
            assert stored[key] == value
        [file] = Media.objects.filter(message=message)
        assert file.mime_type == mime and file.stored_at is None and file.meta_media_id
        assert MediaFetch.objects.filter(media=file, done=False).exists()

    return check


def kind_body(kind: str, body: str | None, **payload: object) -> Callable[[Channel], None]:
    def check(channel: Channel) -> None:
        message = only_message()
        assert message.kind == kind and body_of(message) == body
        stored = payload_of(message)
        for key, value in payload.items():
            assert stored[key] == value, key

    return check


def status(expected: Message.Status, code: int | None = None) -> Callable[[Channel], None]:
    def check(channel: Channel) -> None:
        message = Message.objects.get(wamid="wamid.xyzxyz")
        assert message.status == expected
        if code is not None:
            assert message.error_code == code and message.error_title
            assert "experiment" in failure_reason(message)

    return check


def notice(kind: str, event: str) -> Callable[[Channel], None]:
    def check(channel: Channel) -> None:
        [row] = ChannelNotice.objects.filter(kind=kind)
        assert row.event == event and row.channel_id == channel.pk

    return check


def health(expected: str) -> Callable[[Channel], None]:
    def check(channel: Channel) -> None:
        channel.refresh_from_db()
        assert channel.health == expected
        assert ChannelNotice.objects.filter(kind="account_update").count() == 1

    return check


def quality(channel: Channel) -> None:
    channel.refresh_from_db()
    assert channel.throughput_level == "HIGH"
    assert ChannelNotice.objects.filter(kind="phone_number_quality_update").count() == 1


def preference(value: str) -> Callable[[Channel], None]:
    def check(channel: Channel) -> None:
        message = only_message()
        assert message.kind == "user_preferences" and payload_of(message)["value"] == value
        assert Conversation.objects.get().unread == 0

    return check


def orphan_status(channel: Channel) -> None:
    assert Orphan.objects.filter(kind=Orphan.Kind.STATUS, target_wamid="<WHATSAPP_MESSAGE_ID>").exists()


def edited(channel: Channel) -> None:
    message = Message.objects.get(wamid="wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=")
    assert "edited_at" in payload_of(message) and payload_of(message)["kind"] == "image"


def revoked(channel: Channel) -> None:
    message = Message.objects.get(wamid="<ORIGINAL_WHATSAPP_MESSAGE_ID>")
    assert message.status == Message.Status.DELETED and body_of(message) is None


def number_changed(channel: Channel) -> None:
    message = only_message()
    assert message.kind == "system" and payload_of(message)["new_wa_id"] == "972912345678"
    contact = Contact.objects.get()
    assert open_for_system(contact, "wa_id") == "972912345678"


def unsupported(
    hint: str | None, raw_type: str = "unsupported", code: int = 131051
) -> Callable[[Channel], None]:
    def check(channel: Channel) -> None:
        message = only_message()
        stored = payload_of(message)
        assert message.kind == "unsupported" and stored["raw_type"] == raw_type
        assert stored.get("unsupported_type") == hint
        errors: Any = stored.get("errors") or [
            {"code": notice.event} for notice in ChannelNotice.objects.all()
        ]
        assert [int(error["code"]) for error in errors] == [code]

    return check


# Outbound messages that must exist before the sample (statuses, edits, revokes target them).
BEFORE: dict[str, Callable[[Channel], object]] = {
    "meta-docs__webhook_status_delivered_cbp_service.json": lambda c: outbound(
        c, "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjY0QTg2NTI5M0M5NEQA", "16505551234"
    ),
    **{
        name: lambda c: outbound(c, "wamid.xyzxyz")
        for name in (
            "pywa__message_status__delivered.json",
            "pywa__message_status__failed.json",
            "pywa__message_status__played.json",
            "pywa__message_status__read.json",
            "pywa__message_status__sent.json",
            "pywa__message_status__with_tracker.json",
        )
    },
}

CHECKS: dict[str, Callable[[Channel], None]] = {
    "meta-docs__webhook_phone_number_quality_update_throughput.json": quality,
    "meta-docs__webhook_status_delivered_cbp_service.json": lambda c: None,
    "meta-docs__webhook_template_status_approved.json": notice("message_template_status_update", "APPROVED"),
    "meta-docs__webhook_template_status_rejected_invalid_format.json": notice(
        "message_template_status_update", "REJECTED"
    ),
    "pywa__account_update__account_deleted.json": health("disconnected"),
    "pywa__account_update__account_disabled.json": health("disconnected"),
    "pywa__account_update__account_restriction.json": health("restricted"),
    "pywa__account_update__account_violation.json": health("connected"),
    "pywa__account_update__pricing_tiering_update.json": health("connected"),
    "pywa__callback_button__button.json": kind_body("interactive", "title", id="callback_data"),
    "pywa__callback_button__quick_reply.json": kind_body("button", "title", payload="callback_data"),
    "pywa__callback_button__quick_reply_without_context.json": kind_body("button", "title"),
    "pywa__callback_selection__callback.json": kind_body("interactive", "title", id="callback_data"),
    "pywa__callback_selection__description.json": kind_body(
        "interactive", "title", description="description"
    ),
    "pywa__deleted_message__revoke.json": revoked,
    "pywa__edited_message__image.json": edited,
    "pywa__flow_completion__completion.json": kind_body(
        "interactive", "Sent", flow_token="AQAAAAACS5FpgQ_cAAAAAD0QI3s."
    ),
    "pywa__flow_completion__without_flow_token.json": kind_body("interactive", "Sent"),
    "pywa__message__animated_sticker.json": media("sticker", "image/webp", animated=True),
    "pywa__message__audio.json": media("audio", "audio/ogg; codecs=opus"),
    "pywa__message__chosen_location.json": kind_body("location", "Facebook HQ", latitude=37.4611978),
    "pywa__message__contacts.json": kind_body("contacts", None),
    "pywa__message__current_location.json": kind_body("location", None, longitude=43.90539),
    "pywa__message__document.json": media("document", "application/pdf", "caption", filename="filename.pdf"),
    "pywa__message__forwarded.json": text("forwarded text", context={"forwarded": True}),
    "pywa__message__forwarded_many_times.json": text(
        "text forwarded many times", context={"frequently_forwarded": True}
    ),
    "pywa__message__image.json": media("image", "image/jpeg"),
    "pywa__message__interactive_message_with_err.json": unsupported(None, "interactive", 131000),
    "pywa__message__media_with_url.json": media("image", "image/jpeg"),
    "pywa__message__order.json": kind_body("order", "", catalog_id="354160437058781"),
    "pywa__message__reaction.json": kind_body("reaction", "😮", message_id="wamid.yzxyzx=", removed=False),
    "pywa__message__referral.json": text(
        "BODY",
        referral={
            "source_url": "AD_OR_POST_FB_URL",
            "source_id": "ADID",
            "source_type": "unknown",
            "headline": "AD_TITLE",
            "body": "AD_DESCRIPTION",
            "media_type": "image or video",
            "image_url": "RAW_IMAGE_URL",
            "video_url": "RAW_VIDEO_URL",
            "thumbnail_url": "RAW_THUMBNAIL_URL",
            "ctwa_clid": "CTWA_CLID",
        },
    ),
    "pywa__message__reply.json": text("replied text"),
    "pywa__message__static_sticker.json": media("sticker", "image/webp"),
    "pywa__message__text.json": text("Body Text"),
    "pywa__message__unreaction_empty.json": kind_body("reaction", None, removed=True),
    "pywa__message__unreaction_no_emoji.json": kind_body("reaction", None, removed=True),
    "pywa__message__unsupported.json": unsupported(None),
    "pywa__message__unsupported_with_type.json": unsupported("pool"),
    "pywa__message__video.json": media("video", "video/mp4", "caption"),
    "pywa__message__voice.json": media("audio", "audio/ogg; codecs=opus", voice=True),
    "pywa__message_status__delivered.json": status(Message.Status.DELIVERED),
    "pywa__message_status__failed.json": status(Message.Status.FAILED, code=130472),
    "pywa__message_status__group.json": orphan_status,
    "pywa__message_status__played.json": status(Message.Status.READ),
    "pywa__message_status__read.json": status(Message.Status.READ),
    "pywa__message_status__sent.json": status(Message.Status.SENT),
    "pywa__message_status__with_tracker.json": status(Message.Status.SENT),
    "pywa__system__identity_change.json": kind_body("system", "User identity changed"),
    "pywa__system__phone_number_change.json": number_changed,
    "pywa__template_category_update__marketing.json": notice("template_category_update", "MARKETING"),
    "pywa__template_components_update__element.json": notice("message_template_components_update", ""),
    "pywa__template_quality_update__yellow.json": notice("message_template_quality_update", "YELLOW"),
    "pywa__template_status_update__approved.json": notice("message_template_status_update", "APPROVED"),
    "pywa__template_status_update__rejected.json": notice("message_template_status_update", "REJECTED"),
    "pywa__user_marketing_preferences__resume.json": preference("resume"),
    "pywa__user_marketing_preferences__signup.json": preference("signup"),
}


def test_every_sample_has_a_check() -> None:
    if not SAMPLES_DIR.is_dir():
        pytest.skip("payload samples not checked out beside the project")
    assert set(sample_names()) - NOT_WEBHOOKS == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_sample_is_ingested_as_the_right_record(name: str) -> None:
    raw = sample(name)
    document = json.loads(raw)
    value = document["entry"][0]["changes"][0]["value"]
    number = value.get("metadata", {}).get("phone_number_id", "1122334455667")
    if not number.isdigit():  # placeholders in pywa's fixtures
        raw = raw.replace(number.encode(), b"1122334455667")
        number = "1122334455667"
    entry_id = str(document["entry"][0]["id"])
    waba = entry_id if entry_id.isdigit() else "102290129340398"
    display = "+1 555 078 3881" if "quality" in name else "+972 12 345 6789"
    channel = make_channel(number, waba_id=waba, display=display)
    if name in BEFORE:
        BEFORE[name](channel)
    if name == "pywa__deleted_message__revoke.json":
        original = outbound(channel, "<ORIGINAL_WHATSAPP_MESSAGE_ID>")
        Message.objects.filter(pk=original.pk).update(direction=Message.Direction.INBOUND)
    if name == "pywa__edited_message__image.json":
        contact = contact_for(channel.workspace_id, "16505551234")
        message = Message(
            workspace_id=channel.workspace_id,
            conversation=conversation_for(channel, contact),
            contact=contact,
            channel=channel,
            direction=Message.Direction.INBOUND,
            kind="image",
            status=Message.Status.RECEIVED,
            wamid="wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
            created_at=now(),
        )
        message.body = "old caption"
        message.save()
    assert post(channel, raw) == 200
    assert RawEvent.objects.count() == 1
    result = drain()
    assert (result.applied, result.poisoned, result.retried) == (1, 0, 0)
    assert not RawEvent.objects.exists()
    CHECKS[name](channel)
    # Meta redelivers: nothing changes the second time.
    before = (Message.objects.count(), ChannelNotice.objects.count(), Orphan.objects.count())
    assert post(channel, raw) == 200
    assert drain().applied == 1
    assert (Message.objects.count(), ChannelNotice.objects.count(), Orphan.objects.count()) == before
    CHECKS[name](channel)
