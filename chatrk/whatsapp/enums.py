"""Meta's enumerations. Each has ``UNKNOWN`` so a value Meta adds tomorrow never breaks ingestion."""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class MetaEnum(StrEnum):
    """Base: ``parse`` maps anything unrecognised to ``UNKNOWN`` instead of raising."""

    @classmethod
    def parse(cls, raw: str) -> Self:
        try:
            return cls(raw)
        except ValueError:
            return cls["UNKNOWN"]


class MessageType(MetaEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"
    AUDIO = "audio"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    INTERACTIVE = "interactive"
    BUTTON = "button"
    REACTION = "reaction"
    ORDER = "order"
    SYSTEM = "system"
    REVOKE = "revoke"
    EDIT = "edit"
    REQUEST_WELCOME = "request_welcome"
    UNSUPPORTED = "unsupported"
    UNKNOWN = "unknown"


class MediaKind(MetaEnum):
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"
    AUDIO = "audio"
    STICKER = "sticker"
    UNKNOWN = "unknown"


class StatusKind(MetaEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"
    DELETED = "deleted"
    WARNING = "warning"
    UNKNOWN = "unknown"


class RecipientType(MetaEnum):
    INDIVIDUAL = "individual"
    GROUP = "group"
    UNKNOWN = "unknown"


class PricingModel(MetaEnum):
    PMP = "PMP"
    CBP = "CBP"
    UNKNOWN = "UNKNOWN"


class PricingType(MetaEnum):
    REGULAR = "regular"
    FREE_CUSTOMER_SERVICE = "free_customer_service"
    FREE_ENTRY_POINT = "free_entry_point"
    UNKNOWN = "unknown"


class ConversationCategory(MetaEnum):
    """Pricing / conversation-origin category (both spellings of international authentication)."""

    AUTHENTICATION = "authentication"
    AUTHENTICATION_INTERNATIONAL = "authentication_international"
    AUTHENTICATION_INTERNATIONAL_DASH = "authentication-international"
    MARKETING = "marketing"
    MARKETING_LITE = "marketing_lite"
    UTILITY = "utility"
    SERVICE = "service"
    REFERRAL_CONVERSION = "referral_conversion"
    UNKNOWN = "unknown"


class InteractiveType(MetaEnum):
    BUTTON_REPLY = "button_reply"
    LIST_REPLY = "list_reply"
    NFM_REPLY = "nfm_reply"
    UNKNOWN = "unknown"


class SystemType(MetaEnum):
    USER_CHANGED_NUMBER = "user_changed_number"
    CUSTOMER_CHANGED_NUMBER = "customer_changed_number"
    CUSTOMER_IDENTITY_CHANGED = "customer_identity_changed"
    USER_IDENTITY_CHANGED = "user_identity_changed"
    UNKNOWN = "unknown"


class ReferralSourceType(MetaEnum):
    AD = "ad"
    POST = "post"
    UNKNOWN = "unknown"


class TemplateStatus(MetaEnum):
    """Template statuses, and the events of ``message_template_status_update``."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PAUSED = "PAUSED"
    DISABLED = "DISABLED"
    IN_APPEAL = "IN_APPEAL"
    PENDING_DELETION = "PENDING_DELETION"
    DELETED = "DELETED"
    ARCHIVED = "ARCHIVED"
    UNARCHIVED = "UNARCHIVED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    FLAGGED = "FLAGGED"
    REINSTATED = "REINSTATED"
    LOCKED = "LOCKED"
    UNKNOWN = "UNKNOWN"


class TemplateCategory(MetaEnum):
    MARKETING = "MARKETING"
    UTILITY = "UTILITY"
    AUTHENTICATION = "AUTHENTICATION"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, raw: str) -> Self:
        # Requests may spell categories in lower case; responses use upper case.
        return super().parse(raw.upper())


class RejectionReason(MetaEnum):
    ABUSIVE_CONTENT = "ABUSIVE_CONTENT"
    INCORRECT_CATEGORY = "INCORRECT_CATEGORY"
    INVALID_FORMAT = "INVALID_FORMAT"
    PROMOTIONAL = "PROMOTIONAL"
    SCAM = "SCAM"
    TAG_CONTENT_MISMATCH = "TAG_CONTENT_MISMATCH"
    CATEGORY_NOT_AVAILABLE = "CATEGORY_NOT_AVAILABLE"
    NONE = "NONE"
    UNKNOWN = "UNKNOWN"


class QualityScore(MetaEnum):
    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"
    UNKNOWN = "UNKNOWN"


class ParameterFormat(MetaEnum):
    POSITIONAL = "POSITIONAL"
    NAMED = "NAMED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, raw: str) -> Self:
        return super().parse(raw.upper())


class PhoneQualityEvent(MetaEnum):
    ONBOARDING = "ONBOARDING"
    THROUGHPUT_UPGRADE = "THROUGHPUT_UPGRADE"
    UPGRADE = "UPGRADE"
    DOWNGRADE = "DOWNGRADE"
    FLAGGED = "FLAGGED"
    UNFLAGGED = "UNFLAGGED"
    UNKNOWN = "UNKNOWN"


class MessagingLimitTier(MetaEnum):
    TIER_50 = "TIER_50"
    TIER_250 = "TIER_250"
    TIER_1K = "TIER_1K"
    TIER_2K = "TIER_2K"
    TIER_10K = "TIER_10K"
    TIER_100K = "TIER_100K"
    TIER_UNLIMITED = "TIER_UNLIMITED"
    TIER_NOT_SET = "TIER_NOT_SET"
    UNKNOWN = "UNKNOWN"


class ThroughputLevel(MetaEnum):
    STANDARD = "STANDARD"
    HIGH = "HIGH"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    UNKNOWN = "UNKNOWN"


class AccountEvent(MetaEnum):
    ACCOUNT_VIOLATION = "ACCOUNT_VIOLATION"
    ACCOUNT_RESTRICTION = "ACCOUNT_RESTRICTION"
    DISABLED_UPDATE = "DISABLED_UPDATE"
    ACCOUNT_DELETED = "ACCOUNT_DELETED"
    PARTNER_ADDED = "PARTNER_ADDED"
    PARTNER_REMOVED = "PARTNER_REMOVED"
    PARTNER_APP_INSTALLED = "PARTNER_APP_INSTALLED"
    PARTNER_APP_UNINSTALLED = "PARTNER_APP_UNINSTALLED"
    VOLUME_BASED_PRICING_TIER_UPDATE = "VOLUME_BASED_PRICING_TIER_UPDATE"
    UNKNOWN = "UNKNOWN"


class RestrictionType(MetaEnum):
    RESTRICTED_BIZ_INITIATED_MESSAGING = "RESTRICTED_BIZ_INITIATED_MESSAGING"
    RESTRICTED_CUSTOMER_INITIATED_MESSAGING = "RESTRICTED_CUSTOMER_INITIATED_MESSAGING"
    RESTRICTED_ADD_PHONE_NUMBER_ACTION = "RESTRICTED_ADD_PHONE_NUMBER_ACTION"
    UNKNOWN = "UNKNOWN"


class MarketingPreference(MetaEnum):
    STOP = "stop"
    RESUME = "resume"
    SIGNUP = "signup"
    UNKNOWN = "unknown"


class ComponentType(MetaEnum):
    HEADER = "HEADER"
    BODY = "BODY"
    FOOTER = "FOOTER"
    BUTTONS = "BUTTONS"
    CAROUSEL = "CAROUSEL"
    LIMITED_TIME_OFFER = "LIMITED_TIME_OFFER"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, raw: str) -> Self:
        return super().parse(raw.upper())


class HeaderFormat(MetaEnum):
    TEXT = "TEXT"
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    DOCUMENT = "DOCUMENT"
    GIF = "GIF"
    LOCATION = "LOCATION"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, raw: str) -> Self:
        return super().parse(raw.upper())


class ButtonType(MetaEnum):
    QUICK_REPLY = "QUICK_REPLY"
    URL = "URL"
    PHONE_NUMBER = "PHONE_NUMBER"
    COPY_CODE = "COPY_CODE"
    OTP = "OTP"
    FLOW = "FLOW"
    VOICE_CALL = "VOICE_CALL"
    MPM = "MPM"
    SPM = "SPM"
    CATALOG = "CATALOG"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, raw: str) -> Self:
        return super().parse(raw.upper())
