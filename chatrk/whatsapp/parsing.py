"""Parse a webhook body once, at the edge, into :mod:`chatrk.whatsapp.payloads` records.

Liberal where Meta grows: unknown keys are ignored, unknown enum values become ``UNKNOWN``, unknown
message types become :class:`Unsupported`, unknown change fields become :class:`UnknownChange`.
Strict where safety needs it: the body size, the JSON itself, the types of ids, timestamps and
array lengths. Anything malformed raises :class:`PayloadError` and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from chatrk.whatsapp.enums import (
    AccountEvent,
    ConversationCategory,
    InteractiveType,
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
from chatrk.whatsapp.errors import PayloadError
from chatrk.whatsapp.payloads import (
    AccountUpdate,
    ButtonReply,
    Change,
    Contact,
    ContactAddress,
    ContactCard,
    ContactCards,
    ContactEmail,
    ContactName,
    ContactOrg,
    ContactPhone,
    ContactUrl,
    Content,
    Context,
    Conversation,
    Edit,
    EditedContent,
    Entry,
    ErrorDetail,
    FlowReply,
    Identity,
    ListReply,
    Location,
    Media,
    Message,
    MessagesChange,
    Metadata,
    Order,
    OrderItem,
    PhoneNumberQualityUpdate,
    Pricing,
    QuickReply,
    Reaction,
    Referral,
    ReferredProduct,
    Restriction,
    Revoke,
    Status,
    System,
    TemplateCategoryUpdate,
    TemplateComponentsUpdate,
    TemplateQualityUpdate,
    TemplateRef,
    TemplateStatusUpdate,
    Text,
    UnknownChange,
    Unsupported,
    UserPreference,
    UserPreferencesChange,
    Webhook,
    WelcomeRequest,
)
from chatrk.whatsapp.reader import Obj, decode_json

MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta's documented ceiling for one webhook POST
MAX_CONTACT_CARDS = 257  # the Cloud API's own limit on shared contacts


def parse_webhook(raw_body: bytes) -> Webhook:
    """The one entry point: raw POST body (already signature-checked) to a typed :class:`Webhook`."""
    root = Obj(decode_json(raw_body, limit=MAX_BODY_BYTES), "$")
    return Webhook(object=root.string("object"), entries=root.each("entry", _entry))


def _entry(obj: Obj) -> Entry:
    return Entry(id=obj.ident("id"), time=obj.opt_timestamp("time"), changes=obj.each("changes", _change))


def _change(obj: Obj) -> Change:
    field = obj.string("field")
    value = obj.obj("value")
    parser = _CHANGE_PARSERS.get(field)
    if parser is None:
        return UnknownChange(field=field, value=value.data)
    return parser(value)


# --- shared pieces ----------------------------------------------------------------------------


def error_detail(obj: Obj) -> ErrorDetail:
    """An error object as in webhooks' ``errors[]``; also reads the synchronous ``error`` shape."""
    error_data = obj.opt_obj("error_data")
    return ErrorDetail(
        code=obj.integer("code"),
        title=obj.opt_string("title") or "",
        message=obj.opt_string("message") or "",
        details=(error_data.opt_string("details") or "") if error_data else "",
        href=obj.opt_string("href") or "",
    )


def _errors(obj: Obj) -> tuple[ErrorDetail, ...]:
    return obj.each("errors", error_detail)


def _metadata(obj: Obj) -> Metadata:
    return Metadata(
        display_phone_number=obj.string("display_phone_number"),
        phone_number_id=obj.ident("phone_number_id"),
    )


def _contact(obj: Obj) -> Contact:
    profile = obj.opt_obj("profile")
    return Contact(
        wa_id=obj.opt_ident("wa_id"),
        profile_name=profile.opt_string("name") if profile else None,
        username=profile.opt_string("username") if profile else None,
        user_id=obj.opt_ident("user_id"),
        parent_user_id=obj.opt_ident("parent_user_id"),
    )


def _context(obj: Obj) -> Context:
    product = obj.opt_obj("referred_product")
    return Context(
        message_id=obj.opt_ident("id"),
        from_=obj.opt_ident("from"),
        forwarded=obj.flag("forwarded"),
        frequently_forwarded=obj.flag("frequently_forwarded"),
        referred_product=(
            ReferredProduct(product.string("catalog_id"), product.string("product_retailer_id"))
            if product
            else None
        ),
    )


def _referral(obj: Obj) -> Referral:
    welcome = obj.opt_obj("welcome_message")
    source_type = obj.opt_enum("source_type", ReferralSourceType) or ReferralSourceType.UNKNOWN
    return Referral(
        source_url=obj.opt_string("source_url"),
        source_id=obj.opt_string("source_id"),
        source_type=source_type,
        headline=obj.opt_string("headline"),
        body=obj.opt_string("body"),
        media_type=obj.opt_string("media_type"),
        image_url=obj.opt_string("image_url"),
        video_url=obj.opt_string("video_url"),
        thumbnail_url=obj.opt_string("thumbnail_url"),
        ctwa_clid=obj.opt_string("ctwa_clid"),
        welcome_message=welcome.opt_string("text") if welcome else None,
    )


# --- message content, by type ---------------------------------------------------------------


def _text(msg: Obj) -> Content:
    return Text(body=msg.obj("text").string("body"))


def _media(kind: MediaKind) -> Callable[[Obj], Content]:
    def parse(msg: Obj) -> Content:
        body = msg.obj(kind.value)
        return Media(
            kind=kind,
            media_id=body.ident("id"),
            mime_type=body.string("mime_type"),
            sha256=body.opt_string("sha256"),
            caption=body.opt_string("caption"),
            filename=body.opt_string("filename"),
            url=body.opt_string("url"),
            voice=body.flag("voice"),
            animated=body.flag("animated"),
        )

    return parse


def _location(msg: Obj) -> Content:
    body = msg.obj("location")
    return Location(
        latitude=body.number("latitude"),
        longitude=body.number("longitude"),
        name=body.opt_string("name"),
        address=body.opt_string("address"),
        url=body.opt_string("url"),
    )


def _contact_card(obj: Obj) -> ContactCard:
    name = obj.obj("name")
    org = obj.opt_obj("org")
    return ContactCard(
        name=ContactName(
            formatted_name=name.opt_string("formatted_name") or "",
            first_name=name.opt_string("first_name"),
            last_name=name.opt_string("last_name"),
            middle_name=name.opt_string("middle_name"),
            prefix=name.opt_string("prefix"),
            suffix=name.opt_string("suffix"),
        ),
        phones=obj.each(
            "phones",
            lambda p: ContactPhone(p.opt_string("phone"), p.opt_string("type"), p.opt_ident("wa_id")),
        ),
        emails=obj.each("emails", lambda e: ContactEmail(e.string("email"), e.opt_string("type"))),
        urls=obj.each("urls", lambda u: ContactUrl(u.string("url"), u.opt_string("type"))),
        addresses=obj.each("addresses", _contact_address),
        org=ContactOrg(org.opt_string("company"), org.opt_string("department"), org.opt_string("title"))
        if org
        else None,
        birthday=obj.opt_string("birthday"),
    )


def _contact_phone(obj: Obj) -> ContactPhone:
    return ContactPhone(obj.opt_string("phone"), obj.opt_string("type"), obj.opt_ident("wa_id"))


def _contact_address(obj: Obj) -> ContactAddress:
    return ContactAddress(
        street=obj.opt_string("street"),
        city=obj.opt_string("city"),
        state=obj.opt_string("state"),
        zip=obj.opt_string("zip"),
        country=obj.opt_string("country"),
        country_code=obj.opt_string("country_code"),
        type=obj.opt_string("type"),
    )


def _contacts(msg: Obj) -> Content:
    return ContactCards(cards=msg.each("contacts", _contact_card, limit=MAX_CONTACT_CARDS))


def _interactive(msg: Obj) -> Content:
    body = msg.obj("interactive")
    kind = body.enum("type", InteractiveType)
    if kind is InteractiveType.BUTTON_REPLY:
        reply = body.obj("button_reply")
        return ButtonReply(id=reply.string("id"), title=reply.string("title"))
    if kind is InteractiveType.LIST_REPLY:
        reply = body.obj("list_reply")
        return ListReply(reply.string("id"), reply.string("title"), reply.opt_string("description"))
    if kind is InteractiveType.NFM_REPLY:
        return _flow_reply(body.obj("nfm_reply"))
    return Unsupported(raw_type="interactive", unsupported_type=body.string("type"))


def _flow_reply(obj: Obj) -> FlowReply:
    response_json = obj.string("response_json")
    return FlowReply(
        name=obj.opt_string("name"),
        body=obj.opt_string("body"),
        response_json=response_json,
        flow_token=_flow_token(response_json),
    )


def _flow_token(response_json: str) -> str | None:
    """The ``flow_token`` inside Meta's stringified JSON; a Flow may legitimately omit it."""
    try:
        decoded = json.loads(response_json)
    except (ValueError, RecursionError):
        raise PayloadError("nfm_reply.response_json: expected a JSON string") from None
    if not isinstance(decoded, dict):
        return None
    token = decoded.get("flow_token")
    return token if isinstance(token, str) else None


def _button(msg: Obj) -> Content:
    body = msg.obj("button")
    return QuickReply(payload=body.opt_string("payload") or "", text=body.opt_string("text") or "")


def _reaction(msg: Obj) -> Content:
    body = msg.obj("reaction")
    return Reaction(message_id=body.ident("message_id"), emoji=body.opt_string("emoji"))


def _order(msg: Obj) -> Content:
    body = msg.obj("order")
    return Order(
        catalog_id=body.ident("catalog_id"),
        text=body.opt_string("text"),
        items=body.each("product_items", _order_item),
    )


def _order_item(obj: Obj) -> OrderItem:
    return OrderItem(
        product_retailer_id=obj.string("product_retailer_id"),
        quantity=obj.integer("quantity"),
        item_price=obj.number("item_price"),
        currency=obj.string("currency"),
    )


def _system(msg: Obj) -> Content:
    body = msg.obj("system")
    # The identity block sits beside ``system`` on the message, not inside it.
    identity = msg.opt_obj("identity")
    return System(
        type=body.opt_enum("type", SystemType) or SystemType.UNKNOWN,
        body=body.opt_string("body"),
        new_wa_id=body.opt_ident("wa_id"),
        identity=Identity(
            acknowledged=identity.opt_bool("acknowledged"),
            created=identity.opt_timestamp("created_timestamp"),
            hash=identity.opt_string("hash"),
        )
        if identity
        else None,
    )


def _revoke(msg: Obj) -> Content:
    return Revoke(original_message_id=msg.obj("revoke").ident("original_message_id"))


def _edit(msg: Obj) -> Content:
    body = msg.obj("edit")
    inner = body.opt_obj("message")
    return Edit(
        original_message_id=body.ident("original_message_id"),
        message=_edited_content(inner) if inner else None,
    )


def _edited_content(inner: Obj) -> EditedContent:
    raw_type = inner.string("type")
    context = inner.opt_obj("context")
    return EditedContent(
        type=MessageType.parse(raw_type),
        content=_content(inner, raw_type, allow_nested=False),
        context=_context(context) if context else None,
    )


def _unsupported(msg: Obj) -> Content:
    hint = msg.opt_obj("unsupported")
    return Unsupported(raw_type="unsupported", unsupported_type=hint.opt_string("type") if hint else None)


def _welcome(msg: Obj) -> Content:
    return WelcomeRequest()


_CONTENT_PARSERS: dict[str, Callable[[Obj], Content]] = {
    "text": _text,
    "image": _media(MediaKind.IMAGE),
    "video": _media(MediaKind.VIDEO),
    "document": _media(MediaKind.DOCUMENT),
    "audio": _media(MediaKind.AUDIO),
    "sticker": _media(MediaKind.STICKER),
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _button,
    "reaction": _reaction,
    "order": _order,
    "system": _system,
    "revoke": _revoke,
    "edit": _edit,
    "unsupported": _unsupported,
    "request_welcome": _welcome,
}
# Types whose body is optional by nature: missing body is not "malformed".
_BODY_OPTIONAL = {"unsupported", "request_welcome"}


def _content(msg: Obj, raw_type: str, *, allow_nested: bool = True) -> Content:
    parser = _CONTENT_PARSERS.get(raw_type)
    if parser is None or (raw_type == "edit" and not allow_nested):
        return Unsupported(raw_type=raw_type)
    if raw_type not in _BODY_OPTIONAL and not msg.has(raw_type):
        # Meta sends e.g. an "interactive" without its object alongside error 131000: keep it, typed.
        return Unsupported(raw_type=raw_type)
    return parser(msg)


def _message(obj: Obj) -> Message:
    raw_type = obj.string("type")
    context = obj.opt_obj("context")
    referral = obj.opt_obj("referral")
    return Message(
        id=obj.ident("id"),
        from_=obj.opt_ident("from"),
        from_user_id=obj.opt_ident("from_user_id"),
        timestamp=obj.timestamp("timestamp"),
        type=MessageType.parse(raw_type),
        content=_content(obj, raw_type),
        context=_context(context) if context else None,
        referral=_referral(referral) if referral else None,
        errors=_errors(obj),
    )


# --- statuses ----------------------------------------------------------------------------------


def _conversation(obj: Obj) -> Conversation:
    origin = obj.opt_obj("origin")
    return Conversation(
        id=obj.opt_ident("id"),
        origin=(origin.opt_enum("type", ConversationCategory) if origin else None)
        or ConversationCategory.UNKNOWN,
        expires=obj.opt_timestamp("expiration_timestamp"),
    )


def _pricing(obj: Obj) -> Pricing:
    return Pricing(
        billable=obj.opt_bool("billable"),
        model=obj.opt_enum("pricing_model", PricingModel) or PricingModel.UNKNOWN,
        category=obj.opt_enum("category", ConversationCategory) or ConversationCategory.UNKNOWN,
        type=obj.opt_enum("type", PricingType) or PricingType.UNKNOWN,
    )


def _status(obj: Obj) -> Status:
    conversation = obj.opt_obj("conversation")
    pricing = obj.opt_obj("pricing")
    return Status(
        id=obj.ident("id"),
        status=obj.enum("status", StatusKind),
        timestamp=obj.timestamp("timestamp"),
        recipient_id=obj.opt_ident("recipient_id"),
        recipient_user_id=obj.opt_ident("recipient_user_id"),
        recipient_type=obj.opt_enum("recipient_type", RecipientType) or RecipientType.INDIVIDUAL,
        recipient_participant_id=obj.opt_ident("recipient_participant_id"),
        recipient_participant_user_id=obj.opt_ident("recipient_participant_user_id"),
        biz_opaque_callback_data=obj.opt_string("biz_opaque_callback_data"),
        conversation=_conversation(conversation) if conversation else None,
        pricing=_pricing(pricing) if pricing else None,
        errors=_errors(obj),
    )


# --- changes -------------------------------------------------------------------------------------


def _messages_change(value: Obj) -> Change:
    return MessagesChange(
        metadata=_metadata(value.obj("metadata")),
        contacts=value.each("contacts", _contact),
        messages=value.each("messages", _message),
        statuses=value.each("statuses", _status),
        errors=_errors(value),
    )


def _user_preference(obj: Obj) -> UserPreference:
    return UserPreference(
        wa_id=obj.ident("wa_id"),
        category=obj.string("category"),
        value=obj.enum("value", MarketingPreference),
        timestamp=obj.timestamp("timestamp"),
        detail=obj.opt_string("detail"),
    )


def _user_preferences_change(value: Obj) -> Change:
    metadata = value.opt_obj("metadata")
    return UserPreferencesChange(
        metadata=_metadata(metadata) if metadata else None,
        preferences=value.each("user_preferences", _user_preference),
        contacts=value.each("contacts", _contact),
    )


def _template_ref(value: Obj) -> TemplateRef:
    return TemplateRef(
        id=value.numeric_id("message_template_id"),
        name=value.opt_string("message_template_name"),
        language=value.opt_string("message_template_language"),
    )


def _template_status(value: Obj) -> Change:
    rejection = value.opt_obj("rejection_info")
    other = value.opt_obj("other_info")
    disable = value.opt_obj("disable_info")
    return TemplateStatusUpdate(
        template=_template_ref(value),
        event=value.enum("event", TemplateStatus),
        reason=value.opt_enum("reason", RejectionReason),
        category=value.opt_enum("message_template_category", TemplateCategory),
        rejection_reason=rejection.opt_string("reason") if rejection else None,
        rejection_recommendation=rejection.opt_string("recommendation") if rejection else None,
        other_info_title=other.opt_string("title") if other else None,
        disable_date=_loose_text(disable, "disable_date") if disable else None,
    )


def _loose_text(obj: Obj, key: str) -> str | None:
    """A display-only value Meta has sent both as a string and as a number."""
    value = obj.data.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


def _template_quality(value: Obj) -> Change:
    return TemplateQualityUpdate(
        template=_template_ref(value),
        previous=value.opt_enum("previous_quality_score", QualityScore) or QualityScore.UNKNOWN,
        new=value.enum("new_quality_score", QualityScore),
    )


def _template_category(value: Obj) -> Change:
    return TemplateCategoryUpdate(
        template=_template_ref(value),
        new_category=value.enum("new_category", TemplateCategory),
        previous_category=value.opt_enum("previous_category", TemplateCategory),
    )


def _template_components(value: Obj) -> Change:
    return TemplateComponentsUpdate(
        template=_template_ref(value),
        body=value.opt_string("message_template_element"),
        title=value.opt_string("message_template_title"),
        footer=value.opt_string("message_template_footer"),
        button_texts=value.each(
            "message_template_buttons", lambda b: b.opt_string("message_template_button_text") or ""
        ),
    )


def _phone_quality(value: Obj) -> Change:
    return PhoneNumberQualityUpdate(
        display_phone_number=value.opt_string("display_phone_number"),
        event=value.enum("event", PhoneQualityEvent),
        current_limit=value.opt_enum("current_limit", MessagingLimitTier),
        old_limit=value.opt_enum("old_limit", MessagingLimitTier),
    )


def _account_update(value: Obj) -> Change:
    violation = value.opt_obj("violation_info")
    ban = value.opt_obj("ban_info")
    return AccountUpdate(
        event=value.enum("event", AccountEvent),
        violation_type=violation.opt_string("violation_type") if violation else None,
        restrictions=value.each("restriction_info", _restriction),
        ban_state=ban.opt_string("waba_ban_state") if ban else None,
        ban_date=ban.opt_string("waba_ban_date") if ban else None,
    )


def _restriction(obj: Obj) -> Restriction:
    return Restriction(
        type=obj.enum("restriction_type", RestrictionType),
        expires=obj.opt_timestamp("expiration"),
    )


_CHANGE_PARSERS: dict[str, Callable[[Obj], Change]] = {
    "messages": _messages_change,
    "user_preferences": _user_preferences_change,
    "message_template_status_update": _template_status,
    "message_template_quality_update": _template_quality,
    # Meta's docs name it "template_category_update"; accept the prefixed spelling too.
    "template_category_update": _template_category,
    "message_template_category_update": _template_category,
    "message_template_components_update": _template_components,
    "phone_number_quality_update": _phone_quality,
    "account_update": _account_update,
}


def parse_error_object(raw: bytes) -> ErrorDetail:
    """One error object as Meta puts in ``errors[]`` (or the inner part of a synchronous ``error``)."""
    return error_detail(Obj(decode_json(raw, limit=MAX_BODY_BYTES), "$"))
