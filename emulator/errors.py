"""Graph API errors in Meta's exact shape (REFERENCE §1 "Error response")."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

ERROR_DOCS_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

# code -> (title, HTTP status for synchronous answers). Titles follow Meta's error-code page.
ERROR_TABLE: dict[int, tuple[str, int]] = {
    0: ("AuthException", 401),
    3: ("API method", 500),
    4: ("Application request limit reached", 400),
    10: ("Permission denied", 403),
    100: ("Invalid parameter", 400),
    190: ("Access token has expired", 401),
    130429: ("Rate limit hit", 400),
    131000: ("Something went wrong", 500),
    131005: ("Access denied", 403),
    131008: ("Required parameter is missing", 400),
    131009: ("Parameter value is not valid", 400),
    131016: ("Service unavailable", 503),
    131021: ("Recipient cannot be sender", 400),
    131026: ("Message undeliverable", 400),
    131047: ("Re-engagement message", 400),
    131049: (
        "This message was not delivered to maintain healthy ecosystem engagement.",
        400,
    ),
    131050: (
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing "
        "messages on WhatsApp from your business",
        400,
    ),
    131051: ("Unsupported message type", 400),
    131052: ("Media download error", 400),
    131053: ("Media upload error", 400),
    131056: ("(Business Account, Consumer Account) pair rate limit hit", 400),
    131057: ("Account in maintenance mode", 500),
    131064: ("Message failed to reach messaging limit", 400),
    132000: ("Number of parameters does not match the expected number of params", 400),
    132001: ("Template name does not exist in the translation", 404),
    132015: ("Template is Paused", 400),
    132016: ("Template is Disabled", 400),
    132018: ("There was an issue with the parameters in your template.", 400),
}


def error_title(code: int) -> str:
    return ERROR_TABLE.get(code, ("Unknown error", 400))[0]


@dataclass(frozen=True)
class GraphError(Exception):
    """A synchronous Graph API error; `to_body()` renders Meta's `{"error": {...}}` object."""

    code: int
    details: str
    http_status: int = 0
    subcode: int | None = None
    error_type: str = "OAuthException"
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return self.http_status or ERROR_TABLE.get(self.code, ("", 400))[1]

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message or f"(#{self.code}) {error_title(self.code)}",
            "type": self.error_type,
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": "A" + secrets.token_urlsafe(16)[:22],
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error.update(self.extra)
        return {"error": error}


def invalid_parameter(details: str, subcode: int | None = None) -> GraphError:
    return GraphError(100, details, subcode=subcode)


def missing_parameter(name: str) -> GraphError:
    return GraphError(131008, f"The parameter {name} is required.")


def invalid_value(details: str) -> GraphError:
    return GraphError(131009, details)


def unknown_object(object_id: str) -> GraphError:
    # Meta's wording for an id that does not exist or that the token cannot see.
    return GraphError(
        100,
        f"Unsupported request - method type: post. Object with ID '{object_id}' does not exist, "
        "cannot be loaded due to missing permissions, or does not support this operation.",
        subcode=33,
        error_type="GraphMethodException",
        message=f"Unsupported request. Object with ID '{object_id}' does not exist, cannot be loaded "
        "due to missing permissions, or does not support this operation.",
    )


def webhook_error(code: int, details: str, title: str | None = None) -> dict[str, Any]:
    """The asynchronous error object carried in `statuses[].errors[]` and `value.errors[]`."""
    title = title or error_title(code)
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details},
        "href": ERROR_DOCS_HREF,
    }
