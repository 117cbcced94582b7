"""Cloud API error codes: what each means to an agent, and what the sender does about it.

The table is the one place that knows Meta's codes. ``docs/whatsapp-errors.md`` is generated from it
(``python -m chatrk.whatsapp.errors``) and a test fails when the two drift apart.

Also here: the two exceptions this app raises. Neither ever carries a token, phone number, name or
message body in its text: ``str(exc)`` is safe to log.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RetryClass(StrEnum):
    RETRY_BACKOFF = "retry_backoff"  # transient: try again later, with exponential back-off
    FINAL = "final"  # this message will never go through as it is: fail it with the reason
    REAUTHORISE = "reauthorise"  # the channel's credentials or permissions must be renewed first


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    code: int
    title: str  # Meta's title, for support tickets
    reason: str  # plain language, shown to agents
    retry_class: RetryClass


_B = RetryClass.RETRY_BACKOFF
_F = RetryClass.FINAL
_R = RetryClass.REAUTHORISE

# (code, Meta's title, plain-language reason, retry class). Sources: REFERENCE.md §1, §3, §5 and
# Meta's error-code page for the registration (1330xx) family.
_ROWS: tuple[tuple[int, str, str, RetryClass], ...] = (
    (0, "AuthException", "WhatsApp could not authenticate this channel. Reconnect the number.", _R),
    (1, "API Unknown", "WhatsApp had a temporary problem. The message will be retried.", _B),
    (2, "API Service", "WhatsApp's service was temporarily unavailable. The message will be retried.", _B),
    (
        3,
        "API Method",
        "The connected Meta app lacks the capability for this call. An admin must fix the app setup.",
        _R,
    ),
    (4, "Too many calls", "Too many requests to WhatsApp from this app. The message will be retried.", _B),
    (10, "Permission denied", "The channel's access was refused by Meta. Reconnect the number.", _R),
    (
        100,
        "Invalid parameter",
        "WhatsApp rejected the request as malformed (a field is missing or has a bad value).",
        _F,
    ),
    (190, "Access token expired", "The channel's access token has expired or was revoked. Reconnect it.", _R),
    (
        368,
        "Temporarily blocked for policies violations",
        "Meta has temporarily blocked this number for policy violations. Check the account in Meta.",
        _F,
    ),
    (80007, "Rate limit issues", "The WhatsApp account hit Meta's management rate limit. Retrying.", _B),
    (
        130429,
        "Rate limit hit",
        "This number is sending faster than its throughput allows. The message will be retried.",
        _B,
    ),
    (
        130472,
        "User's number is part of an experiment",
        "Meta held this marketing message back: the customer is in a Meta experiment group.",
        _F,
    ),
    (
        130497,
        "Business account is restricted from messaging users in this country",
        "This WhatsApp account may not message customers in that country.",
        _F,
    ),
    (131000, "Something went wrong", "WhatsApp failed for an unknown reason. It will be retried.", _B),
    (131005, "Access denied", "Meta refused access for this channel. Reconnect the number.", _R),
    (131008, "Required parameter is missing", "The message was missing a required part.", _F),
    (
        131009,
        "Parameter value is not valid",
        "A value in the message was not accepted (for example a reaction to an unknown message).",
        _F,
    ),
    (131016, "Service unavailable", "WhatsApp is temporarily unavailable. The message will be retried.", _B),
    (131021, "Recipient cannot be sender", "A number cannot message itself.", _F),
    (
        131026,
        "Message undeliverable",
        "The customer could not receive it: not on WhatsApp, an old app, terms not accepted, or they "
        "blocked this number.",
        _F,
    ),
    (
        131030,
        "Recipient phone number not in allowed list",
        "This is a test number; it may only message the recipients added in Meta's test settings.",
        _F,
    ),
    (
        131031,
        "Account has been locked",
        "Meta has locked this WhatsApp account. An admin must resolve it in Meta Business Manager.",
        _F,
    ),
    (131037, "Display name approval needed", "The number's display name is not approved yet.", _F),
    (
        131042,
        "Business eligibility payment issue",
        "Meta refused the message over a payment problem on the WhatsApp account.",
        _F,
    ),
    (
        131045,
        "Incorrect certificate",
        "The phone number's registration is broken. Re-register the number.",
        _R,
    ),
    (
        131047,
        "Re-engagement message",
        "More than 24 hours have passed since the customer last wrote. Send an approved template instead.",
        _F,
    ),
    (
        131048,
        "Spam rate limit hit",
        "Meta is restricting this number because customers reported or blocked its messages.",
        _F,
    ),
    (
        131049,
        "Meta chose not to deliver",
        "Meta did not deliver this marketing message to protect the customer from too many "
        "marketing messages.",
        _F,
    ),
    (
        131050,
        "User has stopped marketing messages",
        "The customer has turned off marketing messages from this business.",
        _F,
    ),
    (131051, "Unsupported message type", "WhatsApp does not support this type of message.", _F),
    (
        131052,
        "Media download error",
        "The customer's file could not be fetched from WhatsApp (it may be over 100 MB). Ask them to "
        "send it another way.",
        _F,
    ),
    (
        131053,
        "Media upload error",
        "The attachment could not be processed: wrong type, too large, or unreachable.",
        _F,
    ),
    (
        131056,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages to this customer in a short time. The message will be retried.",
        _B,
    ),
    (
        131057,
        "Account in maintenance mode",
        "The number is briefly in maintenance (for example a throughput upgrade). Retrying shortly.",
        _B,
    ),
    (
        131060,
        "Message currently unavailable",
        "The customer's message is not available yet; WhatsApp may deliver it later.",
        _F,
    ),
    (131062, "Business-scoped user ID not supported", "This recipient cannot be messaged by user ID.", _F),
    (
        131063,
        "Marketing templates disabled",
        "Marketing templates are disabled for this number on the Cloud API.",
        _F,
    ),
    (
        131064,
        "Messaging limit reached",
        "The business reached its daily limit of customers it may start conversations with.",
        _F,
    ),
    (
        132000,
        "Number of parameters does not match",
        "The template's variables did not match what the approved template expects.",
        _F,
    ),
    (
        132001,
        "Template does not exist",
        "No approved template with this name and language exists. Check the template in the list.",
        _F,
    ),
    (
        132005,
        "Template hydrated text too long",
        "With its variables filled in, the template text is too long.",
        _F,
    ),
    (
        132007,
        "Template format character policy violated",
        "A template variable contains characters WhatsApp does not allow.",
        _F,
    ),
    (
        132012,
        "Template parameter format mismatch",
        "A template variable has the wrong kind of value (for example text where an image is expected).",
        _F,
    ),
    (132015, "Template is paused", "The template is paused for low quality. Use another template.", _F),
    (132016, "Template is disabled", "The template was disabled for low quality. Use another template.", _F),
    (
        132018,
        "Template parameter issue",
        "A template variable contains a new line, a tab or more than four spaces in a row.",
        _F,
    ),
    (132068, "Flow is blocked", "The WhatsApp Flow in this message is blocked.", _F),
    (
        132069,
        "Flow is throttled",
        "Too many messages with this WhatsApp Flow in the last hour. The message will be retried.",
        _B,
    ),
    (133000, "Incomplete deregistration", "The number's earlier deregistration did not finish.", _F),
    (133004, "Server temporarily unavailable", "WhatsApp is temporarily unavailable. Retrying later.", _B),
    (133005, "Two-step verification PIN mismatch", "The number's two-step verification PIN is wrong.", _F),
    (133006, "Phone number re-verification needed", "The number must be verified again before use.", _R),
    (
        133008,
        "Too many two-step verification PIN guesses",
        "Too many wrong PINs for this number; wait before trying again.",
        _F,
    ),
    (133009, "Two-step verification PIN guessed too fast", "PIN attempts were too fast; wait and retry.", _F),
    (133010, "Phone number not registered", "The number is not registered with the Cloud API.", _R),
    (
        133015,
        "Please wait a few minutes before attempting to register",
        "The number was deleted recently; wait a few minutes before registering it.",
        _B,
    ),
    (
        133016,
        "Account register/deregister rate limit exceeded",
        "Too many registration attempts for this number; wait before trying again.",
        _B,
    ),
    (135000, "Generic user error", "WhatsApp rejected the message for an unspecified reason.", _F),
    (
        137000,
        "Identity key mismatch",
        "The customer's identity changed since the message was sent; it was not delivered.",
        _F,
    ),
)

ERROR_TABLE: dict[int, ErrorInfo] = {row[0]: ErrorInfo(*row) for row in _ROWS}

# Graph's 200-299 codes are all "this permission is missing": one row covers the range.
PERMISSION_RANGE = range(200, 300)
_PERMISSION = ErrorInfo(
    200,
    "API Permission",
    "The channel lacks a Meta permission this needs. Reconnect the number and grant all permissions.",
    _R,
)
UNKNOWN_REASON = "WhatsApp reported an error this version of Chatrk does not know."


def describe_error(code: int | None, http_status: int | None = None) -> ErrorInfo:
    """Reason and retry class for a Cloud API error code; unknown codes get a safe default.

    The default for an unknown code is FINAL (a blind retry may duplicate a message or deepen a
    rate limit), except when Meta answered 5xx, which is transient by definition.
    """
    if code is not None:
        if code in ERROR_TABLE:
            return ERROR_TABLE[code]
        if code in PERMISSION_RANGE:
            return ErrorInfo(code, _PERMISSION.title, _PERMISSION.reason, _R)
    transient = http_status is not None and http_status >= 500
    retry_class = _B if transient else _F
    return ErrorInfo(code if code is not None else -1, "Unknown error", UNKNOWN_REASON, retry_class)


class PayloadError(ValueError):
    """A webhook body that is not what Meta sends. The message names a path, never a value."""


class FailureKind(StrEnum):
    API = "api"  # Meta answered with an error object
    HTTP = "http"  # an error status without a readable error object
    TIMEOUT = "timeout"
    TRANSPORT = "transport"  # connection refused, reset, TLS …
    MALFORMED = "malformed"  # a 2xx answer we cannot read; the request may have taken effect
    LIMIT = "limit"  # our own guard tripped (media too large, wrong type, foreign host)


class GraphError(Exception):
    """A Graph API call that did not succeed. ``str()`` holds only codes, never Meta's free text."""

    def __init__(
        self,
        *,
        kind: FailureKind,
        retry_class: RetryClass,
        code: int | None = None,
        subcode: int | None = None,
        title: str = "",
        message: str = "",
        details: str = "",
        http_status: int | None = None,
        fbtrace_id: str = "",
    ) -> None:
        self.kind = kind
        self.retry_class = retry_class
        self.code = code
        self.subcode = subcode
        self.title = title
        self.message = message  # Meta's text: may echo request data, so keep it out of logs
        self.details = details
        self.http_status = http_status
        self.fbtrace_id = fbtrace_id
        super().__init__(self._safe_text())

    def _safe_text(self) -> str:
        parts = [f"Graph API {self.kind}", f"code={self.code}"]
        if self.subcode is not None:
            parts.append(f"subcode={self.subcode}")
        parts.append(f"http={self.http_status}")
        parts.append(f"retry={self.retry_class}")
        return " ".join(parts)

    @property
    def reason(self) -> str:
        """The plain-language reason to show an agent."""
        if self.kind is FailureKind.API or self.code is not None:
            return describe_error(self.code, self.http_status).reason
        if self.retry_class is RetryClass.RETRY_BACKOFF:
            return "WhatsApp could not be reached. The message will be retried."
        return "The answer from WhatsApp could not be used."

    def __repr__(self) -> str:
        return f"GraphError({self._safe_text()})"


def render_markdown_table() -> str:
    """The table as it appears in docs/whatsapp-errors.md."""
    lines = ["| code | Meta's title | reason shown to agents | retry class |", "|---|---|---|---|"]
    for info in sorted(ERROR_TABLE.values(), key=lambda row: row.code):
        lines.append(f"| {info.code} | {info.title} | {info.reason} | `{info.retry_class}` |")
        if info.code == 190:
            perm = _PERMISSION
            lines.append(f"| 200-299 | {perm.title} | {perm.reason} | `{perm.retry_class}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown_table(), end="")
