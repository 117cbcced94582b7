"""Typed webhook payloads: what :func:`chatrk.whatsapp.parsing.parse_webhook` returns.

Frozen, slotted dataclasses. They hold personal data (names, numbers, bodies) exactly as Meta sent
it, so they live in memory only: the ingest drainer encrypts what it keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from chatrk.whatsapp.enums import (
    AccountEvent,
    ConversationCategory,
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

type JsonValue = bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """An error object inside a webhook (value-level, message-level or status-level)."""

    code: int
    title: str = ""
    message: str = ""
    details: str = ""
    href: str = ""


# --- messages: shared parts ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metadata:
    display_phone_number: str
    phone_number_id: str


@dataclass(frozen=True, slots=True)
class Contact:
    """A sender as listed in ``value.contacts[]``."""

    wa_id: str | None
    profile_name: str | None = None
    user_id: str | None = None  # BSUID (2026), e.g. "US.1349…"
    parent_user_id: str | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class ReferredProduct:
    catalog_id: str
    product_retailer_id: str


@dataclass(frozen=True, slots=True)
class Context:
    """Why a message points elsewhere: a reply, a button tap on our message, or a forward."""

    message_id: str | None = None  # the wamid replied to / tapped on
    from_: str | None = None
    forwarded: bool = False
    frequently_forwarded: bool = False
    referred_product: ReferredProduct | None = None


@dataclass(frozen=True, slots=True)
class Referral:
    """Click-to-WhatsApp ad or post the customer came from."""

    source_url: str | None = None
    source_id: str | None = None
    source_type: ReferralSourceType = ReferralSourceType.UNKNOWN
    headline: str | None = None
    body: str | None = None
    media_type: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    ctwa_clid: str | None = None
    welcome_message: str | None = None


# --- messages: content, one class per type --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    body: str


@dataclass(frozen=True, slots=True)
class Media:
    """Image, video, document, audio (voice notes too) or sticker; download it by ``media_id``."""

    kind: MediaKind
    media_id: str
    mime_type: str
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    url: str | None = None  # lookaside URL, only on newer webhooks; still needs the bearer token
    voice: bool = False
    animated: bool = False


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ContactName:
    formatted_name: str
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    prefix: str | None = None
    suffix: str | None = None


@dataclass(frozen=True, slots=True)
class ContactPhone:
    phone: str | None
    type: str | None = None
    wa_id: str | None = None


@dataclass(frozen=True, slots=True)
class ContactEmail:
    email: str
    type: str | None = None


@dataclass(frozen=True, slots=True)
class ContactUrl:
    url: str
    type: str | None = None


@dataclass(frozen=True, slots=True)
class ContactAddress:
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class ContactOrg:
    company: str | None = None
    department: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class ContactCard:
    name: ContactName
    phones: tuple[ContactPhone, ...] = ()
    emails: tuple[ContactEmail, ...] = ()
    urls: tuple[ContactUrl, ...] = ()
    addresses: tuple[ContactAddress, ...] = ()
    org: ContactOrg | None = None
    birthday: str | None = None


@dataclass(frozen=True, slots=True)
class ContactCards:
    cards: tuple[ContactCard, ...]


@dataclass(frozen=True, slots=True)
class ButtonReply:
    """Tap on an interactive reply button we sent."""

    id: str
    title: str


@dataclass(frozen=True, slots=True)
class ListReply:
    id: str
    title: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class FlowReply:
    """A completed WhatsApp Flow (``nfm_reply``); ``response_json`` is Meta's string, unparsed."""

    name: str | None
    body: str | None
    response_json: str
    flow_token: str | None = None


@dataclass(frozen=True, slots=True)
class QuickReply:
    """Tap on a template's quick-reply button (message type ``button``)."""

    payload: str
    text: str


@dataclass(frozen=True, slots=True)
class Reaction:
    message_id: str
    emoji: str | None  # None or "" means the reaction was removed

    @property
    def removed(self) -> bool:
        return not self.emoji


@dataclass(frozen=True, slots=True)
class OrderItem:
    product_retailer_id: str
    quantity: int
    item_price: float
    currency: str


@dataclass(frozen=True, slots=True)
class Order:
    catalog_id: str
    text: str | None
    items: tuple[OrderItem, ...]


@dataclass(frozen=True, slots=True)
class Identity:
    acknowledged: bool | None
    created: datetime | None
    hash: str | None


@dataclass(frozen=True, slots=True)
class System:
    """Number change (``new_wa_id`` set) or identity change (``identity`` set)."""

    type: SystemType
    body: str | None
    new_wa_id: str | None = None
    identity: Identity | None = None


@dataclass(frozen=True, slots=True)
class Revoke:
    """The customer deleted a message they had sent."""

    original_message_id: str


@dataclass(frozen=True, slots=True)
class EditedContent:
    type: MessageType
    content: Content
    context: Context | None = None


@dataclass(frozen=True, slots=True)
class Edit:
    """The customer edited a message they had sent; ``message`` is the new version."""

    original_message_id: str
    message: EditedContent | None


@dataclass(frozen=True, slots=True)
class WelcomeRequest:
    """The customer opened a chat with the business for the first time (``request_welcome``)."""


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A type we do not model, or a known type whose body is missing. Never silently dropped."""

    raw_type: str
    unsupported_type: str | None = None  # Meta's hint in ``unsupported.type`` (e.g. a poll)


type Content = (
    Text
    | Media
    | Location
    | ContactCards
    | ButtonReply
    | ListReply
    | FlowReply
    | QuickReply
    | Reaction
    | Order
    | System
    | Revoke
    | Edit
    | WelcomeRequest
    | Unsupported
)


@dataclass(frozen=True, slots=True)
class Message:
    """One inbound message. ``type`` is what Meta said; ``content`` is the matching record."""

    id: str
    from_: str | None
    timestamp: datetime
    type: MessageType
    content: Content
    from_user_id: str | None = None
    context: Context | None = None
    referral: Referral | None = None
    errors: tuple[ErrorDetail, ...] = ()


# --- statuses ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str | None
    origin: ConversationCategory
    expires: datetime | None = None


@dataclass(frozen=True, slots=True)
class Pricing:
    billable: bool | None
    model: PricingModel
    category: ConversationCategory
    type: PricingType = PricingType.UNKNOWN


@dataclass(frozen=True, slots=True)
class Status:
    id: str  # the wamid we got when sending
    status: StatusKind
    timestamp: datetime
    recipient_id: str | None
    recipient_user_id: str | None = None
    recipient_type: RecipientType = RecipientType.INDIVIDUAL
    recipient_participant_id: str | None = None  # the member of a group the status is about
    recipient_participant_user_id: str | None = None
    biz_opaque_callback_data: str | None = None
    conversation: Conversation | None = None
    pricing: Pricing | None = None
    errors: tuple[ErrorDetail, ...] = ()


# --- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessagesChange:
    """``field == "messages"``: inbound messages, statuses of ours, or value-level errors."""

    metadata: Metadata
    contacts: tuple[Contact, ...] = ()
    messages: tuple[Message, ...] = ()
    statuses: tuple[Status, ...] = ()
    errors: tuple[ErrorDetail, ...] = ()


@dataclass(frozen=True, slots=True)
class UserPreference:
    wa_id: str
    category: str
    value: MarketingPreference
    timestamp: datetime
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class UserPreferencesChange:
    metadata: Metadata | None
    preferences: tuple[UserPreference, ...]
    contacts: tuple[Contact, ...] = ()


@dataclass(frozen=True, slots=True)
class TemplateRef:
    id: str
    name: str | None
    language: str | None


@dataclass(frozen=True, slots=True)
class TemplateStatusUpdate:
    template: TemplateRef
    event: TemplateStatus
    reason: RejectionReason | None
    category: TemplateCategory | None = None
    rejection_reason: str | None = None  # rejection_info.reason, Meta's sentence
    rejection_recommendation: str | None = None
    other_info_title: str | None = None  # FIRST_PAUSE, SECOND_PAUSE, UNPAUSE, DISABLED …
    disable_date: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateQualityUpdate:
    template: TemplateRef
    previous: QualityScore
    new: QualityScore


@dataclass(frozen=True, slots=True)
class TemplateCategoryUpdate:
    template: TemplateRef
    new_category: TemplateCategory
    previous_category: TemplateCategory | None = None


@dataclass(frozen=True, slots=True)
class TemplateComponentsUpdate:
    template: TemplateRef
    body: str | None
    title: str | None = None
    footer: str | None = None
    button_texts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PhoneNumberQualityUpdate:
    display_phone_number: str | None
    event: PhoneQualityEvent
    current_limit: MessagingLimitTier | None
    old_limit: MessagingLimitTier | None = None


@dataclass(frozen=True, slots=True)
class Restriction:
    type: RestrictionType
    expires: datetime | None


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    event: AccountEvent
    violation_type: str | None = None
    restrictions: tuple[Restriction, ...] = ()
    ban_state: str | None = None
    ban_date: str | None = None


@dataclass(frozen=True, slots=True)
class UnknownChange:
    """A webhook field we do not model yet; kept whole so nothing is lost."""

    field: str
    value: Mapping[str, JsonValue]


type Change = (
    MessagesChange
    | UserPreferencesChange
    | TemplateStatusUpdate
    | TemplateQualityUpdate
    | TemplateCategoryUpdate
    | TemplateComponentsUpdate
    | PhoneNumberQualityUpdate
    | AccountUpdate
    | UnknownChange
)


@dataclass(frozen=True, slots=True)
class Entry:
    id: str  # the WhatsApp Business Account id
    time: datetime | None
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class Webhook:
    object: str
    entries: tuple[Entry, ...]

    def changes(self) -> tuple[Change, ...]:
        return tuple(change for entry in self.entries for change in entry.changes)
