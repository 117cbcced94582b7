"""Every published payload sample parses into the right record, with the fields that matter."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chatrk.whatsapp.client import graph_error_from_response
from chatrk.whatsapp.enums import (
    AccountEvent,
    ButtonType,
    ComponentType,
    ConversationCategory,
    HeaderFormat,
    MarketingPreference,
    MediaKind,
    MessageType,
    MessagingLimitTier,
    PhoneQualityEvent,
    PricingModel,
    PricingType,
    QualityScore,
    RecipientType,
    ReferralSourceType,
    RejectionReason,
    RestrictionType,
    StatusKind,
    SystemType,
    TemplateCategory,
    TemplateStatus,
)
from chatrk.whatsapp.errors import FailureKind, RetryClass
from chatrk.whatsapp.messages import (
    BodyParameters,
    ButtonParameters,
    CurrencyParam,
    DateTimeParam,
    HeaderParameters,
    MediaParam,
    PayloadParam,
    TemplateMessage,
    TextParam,
)
from chatrk.whatsapp.parsing import parse_error_object, parse_webhook
from chatrk.whatsapp.payloads import (
    AccountUpdate,
    ButtonReply,
    Change,
    ContactCards,
    Edit,
    FlowReply,
    ListReply,
    Location,
    Media,
    Message,
    MessagesChange,
    Order,
    PhoneNumberQualityUpdate,
    QuickReply,
    Reaction,
    Revoke,
    Status,
    System,
    TemplateCategoryUpdate,
    TemplateComponentsUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
    Text,
    Unsupported,
    UserPreferencesChange,
)
from chatrk.whatsapp.templates import TemplateDefinition, parse_template
from chatrk.whatsapp.tests import conftest
from chatrk.whatsapp.tests.conftest import sample_bytes, samples_dir


def only_change(name: str) -> Change:
    webhook = parse_webhook(sample_bytes(name))
    assert webhook.object == "whatsapp_business_account"
    changes = webhook.changes()
    assert len(changes) == 1
    return changes[0]


def messages_change(name: str) -> MessagesChange:
    change = only_change(name)
    assert isinstance(change, MessagesChange)
    return change


def only_message(name: str) -> Message:
    change = messages_change(name)
    assert len(change.messages) == 1
    assert change.statuses == ()
    return change.messages[0]


def only_status(name: str) -> Status:
    change = messages_change(name)
    assert change.messages == ()
    assert len(change.statuses) == 1
    return change.statuses[0]


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def test_every_sample_has_a_test_here() -> None:
    names = {path.name for path in samples_dir().glob("*.json")}
    mentioned = set(re.findall(r'"([\w.-]+\.json)"', Path(__file__).read_text()))
    assert names - mentioned == set()


# --- phone number, account, template webhooks --------------------------------------------------


def test_phone_number_quality_update_throughput() -> None:
    change = only_change("meta-docs__webhook_phone_number_quality_update_throughput.json")
    assert change == PhoneNumberQualityUpdate(
        display_phone_number="15550783881",
        event=PhoneQualityEvent.THROUGHPUT_UPGRADE,
        current_limit=MessagingLimitTier.TIER_UNLIMITED,
    )
    webhook = parse_webhook(sample_bytes("meta-docs__webhook_phone_number_quality_update_throughput.json"))
    assert webhook.entries[0].id == "102290129340398"
    assert webhook.entries[0].time == at(1748454394)


def test_template_status_approved_from_meta_docs() -> None:
    change = only_change("meta-docs__webhook_template_status_approved.json")
    assert isinstance(change, TemplateStatusUpdate)
    assert change.event is TemplateStatus.APPROVED
    assert change.template.id == "1689556908129832"  # an integer in JSON, a string for us
    assert change.template.name == "order_confirmation"
    assert change.template.language == "en-US"
    assert change.reason is RejectionReason.NONE
    assert change.category is TemplateCategory.UTILITY


def test_template_status_rejected_invalid_format_from_meta_docs() -> None:
    change = only_change("meta-docs__webhook_template_status_rejected_invalid_format.json")
    assert isinstance(change, TemplateStatusUpdate)
    assert change.event is TemplateStatus.REJECTED
    assert change.reason is RejectionReason.INVALID_FORMAT
    assert change.category is TemplateCategory.MARKETING
    assert change.rejection_reason is not None
    assert "{{1}}{{2}}" in change.rejection_reason
    assert change.rejection_recommendation is not None


def test_template_status_approved() -> None:
    change = only_change("pywa__template_status_update__approved.json")
    assert isinstance(change, TemplateStatusUpdate)
    assert (change.event, change.template.id, change.template.language) == (
        TemplateStatus.APPROVED,
        "1689556908129832",
        "en_US",
    )


def test_template_status_rejected() -> None:
    change = only_change("pywa__template_status_update__rejected.json")
    assert isinstance(change, TemplateStatusUpdate)
    assert change.event is TemplateStatus.REJECTED
    assert change.reason is RejectionReason.INVALID_FORMAT
    assert change.template.name == "abandoned_cart"


def test_template_quality_update() -> None:
    change = only_change("pywa__template_quality_update__yellow.json")
    assert isinstance(change, TemplateQualityUpdate)
    assert (change.previous, change.new) == (QualityScore.GREEN, QualityScore.YELLOW)
    assert change.template.id == "806312974732579"
    assert change.template.name == "welcome_template"


def test_template_category_update() -> None:
    change = only_change("pywa__template_category_update__marketing.json")
    assert isinstance(change, TemplateCategoryUpdate)
    assert change.new_category is TemplateCategory.MARKETING
    assert change.previous_category is None
    assert change.template.id == "12345678"
    assert change.template.language == "he"


def test_template_components_update() -> None:
    # The fixture also carries a second envelope under a stray "all" key; unknown keys are ignored.
    change = only_change("pywa__template_components_update__element.json")
    assert isinstance(change, TemplateComponentsUpdate)
    assert change.template.id == "12345678"
    assert change.body == "Hi {{1}}! Welcome to our service."
    assert change.button_texts == ()


def test_account_deleted() -> None:
    change = only_change("pywa__account_update__account_deleted.json")
    assert change == AccountUpdate(event=AccountEvent.ACCOUNT_DELETED)


def test_account_disabled() -> None:
    change = only_change("pywa__account_update__account_disabled.json")
    assert isinstance(change, AccountUpdate)
    assert change.event is AccountEvent.DISABLED_UPDATE
    assert (change.ban_state, change.ban_date) == ("REINSTATE", "April 17, 2025")


def test_account_restriction() -> None:
    change = only_change("pywa__account_update__account_restriction.json")
    assert isinstance(change, AccountUpdate)
    assert change.event is AccountEvent.ACCOUNT_RESTRICTION
    assert [r.type for r in change.restrictions] == [
        RestrictionType.RESTRICTED_BIZ_INITIATED_MESSAGING,
        RestrictionType.RESTRICTED_ADD_PHONE_NUMBER_ACTION,
    ]
    assert change.restrictions[0].expires == at(1641330498)


def test_account_violation() -> None:
    change = only_change("pywa__account_update__account_violation.json")
    assert change == AccountUpdate(event=AccountEvent.ACCOUNT_VIOLATION, violation_type="ADULT")


def test_pricing_tier_update_is_an_account_update() -> None:
    change = only_change("pywa__account_update__pricing_tiering_update.json")
    assert isinstance(change, AccountUpdate)
    assert change.event is AccountEvent.VOLUME_BASED_PRICING_TIER_UPDATE


def test_user_preferences_resume() -> None:
    change = only_change("pywa__user_marketing_preferences__resume.json")
    assert isinstance(change, UserPreferencesChange)
    assert change.metadata is not None
    assert change.metadata.phone_number_id == "106540352242922"
    (preference,) = change.preferences
    assert preference.wa_id == "16505551234"
    assert preference.value is MarketingPreference.RESUME
    assert preference.category == "marketing_messages"
    assert preference.timestamp == at(1731705721)  # an integer here, unlike message timestamps


def test_user_preferences_signup() -> None:
    change = only_change("pywa__user_marketing_preferences__signup.json")
    assert isinstance(change, UserPreferencesChange)
    (preference,) = change.preferences
    assert preference.value is MarketingPreference.SIGNUP


# --- statuses ----------------------------------------------------------------------------------


def test_status_delivered_from_meta_docs() -> None:
    status = only_status("meta-docs__webhook_status_delivered_cbp_service.json")
    assert status.id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA"
    assert status.status is StatusKind.DELIVERED
    assert status.timestamp == at(1750263773)
    assert status.recipient_id == "16505551234"
    assert status.conversation is not None
    assert status.conversation.origin is ConversationCategory.SERVICE
    assert status.pricing is not None
    assert status.pricing.model is PricingModel.CBP
    assert status.pricing.billable is True
    assert status.pricing.category is ConversationCategory.SERVICE
    assert status.pricing.type is PricingType.UNKNOWN  # CBP-era payloads have no pricing type


def test_status_sent() -> None:
    status = only_status("pywa__message_status__sent.json")
    assert status.status is StatusKind.SENT
    assert status.recipient_id == "972987654321"
    assert status.conversation is not None
    assert status.conversation.expires == at(1698339900)
    assert status.biz_opaque_callback_data is None


def test_status_delivered() -> None:
    status = only_status("pywa__message_status__delivered.json")
    assert status.status is StatusKind.DELIVERED
    assert status.conversation is not None
    assert status.conversation.expires is None


def test_status_read() -> None:
    status = only_status("pywa__message_status__read.json")
    assert (status.status, status.timestamp) == (StatusKind.READ, at(1689380458))


def test_status_played() -> None:
    status = only_status("pywa__message_status__played.json")
    assert status.status is StatusKind.PLAYED


def test_status_failed_keeps_its_error() -> None:
    status = only_status("pywa__message_status__failed.json")
    assert status.status is StatusKind.FAILED
    (error,) = status.errors
    assert error.code == 130472
    assert error.title == "User's number is part of an experiment"
    assert "experiment" in error.details
    assert error.href.startswith("https://developers.facebook.com/")


def test_status_with_tracker_echoes_callback_data() -> None:
    status = only_status("pywa__message_status__with_tracker.json")
    assert status.biz_opaque_callback_data == "some data"


def test_status_for_a_group() -> None:
    status = only_status("pywa__message_status__group.json")
    assert status.recipient_type is RecipientType.GROUP
    assert status.recipient_id == "fowefinoewcnw"
    assert status.recipient_participant_id == "<GROUP_PARTICIPANT_USER_PHONE_NUMBER>"
    assert status.recipient_participant_user_id == "US.123456"
    assert status.status is StatusKind.READ
    contact = messages_change("pywa__message_status__group.json").contacts[0]
    assert (contact.user_id, contact.username) == ("US.123456", "<USERNAME>")


# --- inbound messages ----------------------------------------------------------------------------


def test_text_message_with_its_sender() -> None:
    change = messages_change("pywa__message__text.json")
    assert change.metadata.phone_number_id == "1122334455667"
    assert change.metadata.display_phone_number == "972123456789"
    (contact,) = change.contacts
    assert contact.wa_id == "972987654321"
    assert contact.profile_name == "Test Name"
    assert contact.user_id == "US.13491208655302741918"
    assert contact.parent_user_id == "US.ENT.11815799212886844830"
    (message,) = change.messages
    assert message.id == "wamid.xyzxyz"
    assert message.from_ == "972987654321"
    assert message.timestamp == at(1697043223)
    assert message.type is MessageType.TEXT
    assert message.content == Text("Body Text")
    assert message.context is None


def test_reply_points_at_the_quoted_message() -> None:
    message = only_message("pywa__message__reply.json")
    assert message.content == Text("replied text")
    assert message.context is not None
    assert (message.context.message_id, message.context.from_) == ("wamid.xyzxyz==", "972123456789")
    assert not message.context.forwarded


def test_forwarded() -> None:
    message = only_message("pywa__message__forwarded.json")
    assert message.context is not None
    assert message.context.forwarded
    assert not message.context.frequently_forwarded
    assert message.context.message_id is None


def test_forwarded_many_times() -> None:
    message = only_message("pywa__message__forwarded_many_times.json")
    assert message.context is not None
    assert message.context.frequently_forwarded


def test_image() -> None:
    message = only_message("pywa__message__image.json")
    assert message.type is MessageType.IMAGE
    assert message.content == Media(
        kind=MediaKind.IMAGE, media_id="65463453", mime_type="image/jpeg", sha256="4654+8g="
    )


def test_media_with_lookaside_url() -> None:
    content = only_message("pywa__message__media_with_url.json").content
    assert isinstance(content, Media)
    assert content.url is not None
    assert content.url.startswith("https://lookaside.fbsbx.com/")


def test_video_with_caption() -> None:
    content = only_message("pywa__message__video.json").content
    assert isinstance(content, Media)
    assert (content.kind, content.media_id, content.mime_type, content.caption) == (
        MediaKind.VIDEO,
        "765756756",
        "video/mp4",
        "caption",
    )


def test_document_with_filename() -> None:
    content = only_message("pywa__message__document.json").content
    assert isinstance(content, Media)
    assert content.kind is MediaKind.DOCUMENT
    assert (content.filename, content.mime_type) == ("filename.pdf", "application/pdf")


def test_audio_is_not_a_voice_note() -> None:
    content = only_message("pywa__message__audio.json").content
    assert isinstance(content, Media)
    assert content.kind is MediaKind.AUDIO
    assert not content.voice


def test_voice_note() -> None:
    content = only_message("pywa__message__voice.json").content
    assert isinstance(content, Media)
    assert content.kind is MediaKind.AUDIO
    assert content.voice
    assert content.mime_type == "audio/ogg; codecs=opus"


def test_static_sticker() -> None:
    content = only_message("pywa__message__static_sticker.json").content
    assert isinstance(content, Media)
    assert (content.kind, content.animated, content.mime_type) == (MediaKind.STICKER, False, "image/webp")


def test_animated_sticker() -> None:
    content = only_message("pywa__message__animated_sticker.json").content
    assert isinstance(content, Media)
    assert content.animated


def test_chosen_location() -> None:
    content = only_message("pywa__message__chosen_location.json").content
    assert content == Location(
        latitude=37.4611978,
        longitude=-122.2164385,
        name="Facebook HQ",
        address="1 Hacker Way, Menlo Park, CA 94025",
        url="https://maps.google.com/?cid=2000000000000000000",
    )


def test_current_location() -> None:
    content = only_message("pywa__message__current_location.json").content
    assert content == Location(latitude=12.25089, longitude=43.90539)


def test_shared_contacts() -> None:
    content = only_message("pywa__message__contacts.json").content
    assert isinstance(content, ContactCards)
    assert [card.name.formatted_name for card in content.cards] == ["Chandler Bing", "Monica", "Rachel Green"]
    assert [card.phones[0].type for card in content.cards] == ["CELL", "HOME", "WORK"]
    assert content.cards[0].phones[0].phone == "+1 555-555-5555"
    assert content.cards[0].phones[0].wa_id == "972987654321"


def test_reaction() -> None:
    message = only_message("pywa__message__reaction.json")
    assert message.type is MessageType.REACTION
    assert message.content == Reaction(message_id="wamid.yzxyzx=", emoji="\N{FACE WITH OPEN MOUTH}")
    assert isinstance(message.content, Reaction)
    assert not message.content.removed


def test_unreaction_with_empty_emoji() -> None:
    content = only_message("pywa__message__unreaction_empty.json").content
    assert isinstance(content, Reaction)
    assert content.emoji == ""
    assert content.removed


def test_unreaction_without_emoji() -> None:
    content = only_message("pywa__message__unreaction_no_emoji.json").content
    assert isinstance(content, Reaction)
    assert content.emoji is None
    assert content.removed


def test_order() -> None:
    content = only_message("pywa__message__order.json").content
    assert isinstance(content, Order)
    assert content.catalog_id == "354160437058781"
    assert content.text == ""
    assert [(i.product_retailer_id, i.quantity, i.item_price, i.currency) for i in content.items] == [
        ("HAMBURGER", 3, 30.0, "ILS"),
        ("FRENCH_FRIES", 2, 35.0, "ILS"),
        ("SODA", 2, 10.0, "ILS"),
    ]


def test_referral_from_an_ad() -> None:
    message = only_message("pywa__message__referral.json")
    assert message.content == Text("BODY")
    assert message.referral is not None
    assert message.referral.source_id == "ADID"
    assert message.referral.ctwa_clid == "CTWA_CLID"
    assert message.referral.headline == "AD_TITLE"
    # The fixture's placeholder "ad or post" is not one of Meta's values: kept as UNKNOWN, no crash.
    assert message.referral.source_type is ReferralSourceType.UNKNOWN


def test_unsupported_without_a_hint() -> None:
    message = only_message("pywa__message__unsupported.json")
    assert message.type is MessageType.UNSUPPORTED
    assert message.content == Unsupported(raw_type="unsupported")
    assert [e.code for e in message.errors] == [131051]


def test_unsupported_with_its_type() -> None:
    message = only_message("pywa__message__unsupported_with_type.json")
    assert message.content == Unsupported(raw_type="unsupported", unsupported_type="pool")
    assert message.errors[0].title == "Message type unknown"


def test_interactive_without_its_object_and_a_value_level_error() -> None:
    change = messages_change("pywa__message__interactive_message_with_err.json")
    (message,) = change.messages
    assert message.type is MessageType.INTERACTIVE
    assert message.content == Unsupported(raw_type="interactive")
    (error,) = change.errors
    assert (error.code, error.details) == (131000, "Unsupported webhook payload")


def test_reply_button_tap() -> None:
    message = only_message("pywa__callback_button__button.json")
    assert message.type is MessageType.INTERACTIVE
    assert message.content == ButtonReply(id="callback_data", title="title")
    assert message.context is not None
    assert message.context.message_id == "wamid.xyzxyz"


def test_template_quick_reply() -> None:
    message = only_message("pywa__callback_button__quick_reply.json")
    assert message.type is MessageType.BUTTON
    assert message.content == QuickReply(payload="callback_data", text="title")
    assert message.context is not None
    assert message.context.message_id == "wamid.xyzxyz=="


def test_template_quick_reply_without_context_carries_the_bsuid() -> None:
    message = only_message("pywa__callback_button__quick_reply_without_context.json")
    assert message.content == QuickReply(payload="callback_data", text="title")
    assert message.context is None
    assert message.from_user_id == "US.13491208655302741918"


def test_list_reply() -> None:
    message = only_message("pywa__callback_selection__callback.json")
    assert message.content == ListReply(id="callback_data", title="title")


def test_list_reply_with_description() -> None:
    message = only_message("pywa__callback_selection__description.json")
    assert message.content == ListReply(id="callback_data", title="title", description="description")


def test_flow_completion() -> None:
    content = only_message("pywa__flow_completion__completion.json").content
    assert isinstance(content, FlowReply)
    assert (content.name, content.body) == ("flow", "Sent")
    assert content.flow_token == "AQAAAAACS5FpgQ_cAAAAAD0QI3s."
    assert json.loads(content.response_json)["delivery_rating"] == "4"


def test_flow_completion_without_token() -> None:
    content = only_message("pywa__flow_completion__without_flow_token.json").content
    assert isinstance(content, FlowReply)
    assert content.flow_token is None


def test_revoke() -> None:
    message = only_message("pywa__deleted_message__revoke.json")
    assert message.type is MessageType.REVOKE
    assert message.content == Revoke(original_message_id="<ORIGINAL_WHATSAPP_MESSAGE_ID>")


def test_edit_of_an_image() -> None:
    message = only_message("pywa__edited_message__image.json")
    assert message.type is MessageType.EDIT
    assert isinstance(message.content, Edit)
    assert message.content.original_message_id.startswith("wamid.HBgLMTQxMjU1NTA4Mjk")
    edited = message.content.message
    assert edited is not None
    assert edited.type is MessageType.IMAGE
    assert isinstance(edited.content, Media)
    assert (edited.content.media_id, edited.content.caption) == ("1234567890", "Updated image caption")
    assert edited.context is not None
    assert edited.context.message_id == "M0"


def test_system_number_change_has_no_contacts() -> None:
    change = messages_change("pywa__system__phone_number_change.json")
    assert change.contacts == ()
    (message,) = change.messages
    assert message.content == System(
        type=SystemType.USER_CHANGED_NUMBER,
        body="User A changed from 972987654321 to 972912345678",
        new_wa_id="972912345678",
    )


def test_system_identity_change() -> None:
    content = only_message("pywa__system__identity_change.json").content
    assert isinstance(content, System)
    assert content.type is SystemType.CUSTOMER_IDENTITY_CHANGED
    assert content.identity is not None
    assert content.identity.acknowledged is True
    assert content.identity.created == at(1697044706)
    assert content.identity.hash == "xyzxyz"


# --- error objects -----------------------------------------------------------------------------


def test_error_object_131047() -> None:
    error = parse_error_object(sample_bytes("pywa__error_object_131047_reengagement.json"))
    assert (error.code, error.title) == (131047, "Re-engagement message")
    assert "24 hours" in error.details


def test_error_object_131053() -> None:
    error = parse_error_object(sample_bytes("pywa__error_object_131053_media_upload.json"))
    assert error.code == 131053
    assert "429" in error.details
    assert error.href == ""


def test_error_object_190_as_a_graph_response() -> None:
    body = b'{"error": ' + sample_bytes("pywa__error_object_190_expired_token.json") + b"}"
    error = graph_error_from_response(401, body)
    assert error.kind is FailureKind.API
    assert (error.code, error.subcode, error.http_status) == (190, 463, 401)
    assert error.retry_class is RetryClass.REAUTHORISE
    assert error.fbtrace_id == "ACEyrTehk6IAd0lm05Ixogh"
    assert "Session has expired" in error.message
    assert "Session" not in str(error)


# --- templates ------------------------------------------------------------------------------------


def template(name: str) -> TemplateDefinition:
    return parse_template(json.loads(sample_bytes(name)))


def test_template_abandoned_cart() -> None:
    definition = template("pywa__template_create__abandoned_cart.json")
    assert (definition.name, definition.language, definition.category) == (
        "abandoned_cart",
        "en_US",
        TemplateCategory.MARKETING,
    )
    header = definition.component(ComponentType.HEADER)
    assert header is not None
    assert (header.format, header.variables, header.examples) == (HeaderFormat.TEXT, ("1",), ("Pablo",))
    body = definition.component(ComponentType.BODY)
    assert body is not None
    assert body.examples == ("10OFF",)
    buttons = definition.component(ComponentType.BUTTONS)
    assert buttons is not None
    assert [b.type for b in buttons.buttons] == [ButtonType.MPM]


def test_template_authentication_one_tap() -> None:
    definition = template("pywa__template_create__authentication_code_autofill_button.json")
    assert definition.category is TemplateCategory.AUTHENTICATION
    assert definition.message_send_ttl_seconds == 60
    body = definition.component(ComponentType.BODY)
    footer = definition.component(ComponentType.FOOTER)
    buttons = definition.component(ComponentType.BUTTONS)
    assert body is not None
    assert footer is not None
    assert buttons is not None
    assert body.add_security_recommendation
    assert footer.code_expiration_minutes == 10
    assert [(b.type, b.otp_type) for b in buttons.buttons] == [(ButtonType.OTP, "ONE_TAP")]


def test_template_authentication_copy_code() -> None:
    definition = template("pywa__template_create__authentication_code_copy_code_button.json")
    buttons = definition.component(ComponentType.BUTTONS)
    assert buttons is not None
    assert buttons.buttons[0].otp_type == "COPY_CODE"
    footer = definition.component(ComponentType.FOOTER)
    assert footer is not None
    assert footer.code_expiration_minutes == 5


def test_template_carousel() -> None:
    definition = template("pywa__template_create__carousel_template_media_cards_v1.json")
    body = definition.component(ComponentType.BODY)
    assert body is not None
    assert body.variables == ("1", "2", "3")
    carousel = definition.component(ComponentType.CAROUSEL)
    assert carousel is not None
    assert len(carousel.cards) == 3
    first_card = carousel.cards[0]
    assert [c.type for c in first_card] == [ComponentType.HEADER, ComponentType.BODY, ComponentType.BUTTONS]
    assert first_card[0].format is HeaderFormat.IMAGE
    url_button = first_card[2].buttons[1]
    assert (url_button.type, url_button.examples) == (ButtonType.URL, ("BLUE_ELF",))


def test_template_coupon_code() -> None:
    definition = template("pywa__template_create__coupon_code_fall2023_25off.json")
    buttons = definition.component(ComponentType.BUTTONS)
    assert buttons is not None
    assert [(b.type, b.examples) for b in buttons.buttons] == [
        (ButtonType.QUICK_REPLY, ()),
        (ButtonType.COPY_CODE, ("250FF",)),
    ]


def test_template_limited_time_offer() -> None:
    definition = template("pywa__template_create__limited_time_offer_caribbean_pkg_2023.json")
    assert [c.type for c in definition.components] == [
        ComponentType.HEADER,
        ComponentType.LIMITED_TIME_OFFER,
        ComponentType.BODY,
        ComponentType.BUTTONS,
    ]
    body = definition.component(ComponentType.BODY)
    assert body is not None
    assert body.examples == ("Pablo", "CARIBE25")


def test_template_send_object_matches_our_builder() -> None:
    sample = json.loads(sample_bytes("whatsapp-nodejs-sdk__template_object_example.json"))
    message = TemplateMessage(
        name="TEMPLATE_NAME",
        language="LANGUAGE_AND_LOCALE_CODE",
        components=(
            HeaderParameters((MediaParam(MediaKind.IMAGE, link="http(s)://URL"),)),
            BodyParameters(
                (
                    TextParam("TEXT_STRING"),
                    CurrencyParam(fallback_value="VALUE", code="USD", amount_1000=1000),
                    DateTimeParam(fallback_value="MONTH DAY, YEAR"),
                )
            ),
            ButtonParameters("quick_reply", 0, (PayloadParam("PAYLOAD"),)),
            ButtonParameters("quick_reply", 1, (PayloadParam("PAYLOAD"),)),
        ),
    )
    assert message.payload()["template"] == sample


def test_missing_samples_fail_under_ci_and_skip_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(conftest, "SAMPLES_DIR", tmp_path / "absent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        conftest.samples_dir()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        conftest.samples_dir()
