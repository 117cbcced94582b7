"""Outbound errors: messages are plain language and never carry message content or numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatrk.outbound.gates import Decision


class OutboundError(Exception):
    code = "outbound_error"


class SendRefused(OutboundError):
    """``check_send`` said no; ``decision`` holds every gate's verdict."""

    code = "send_refused"

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        super().__init__(decision.reason)


class IdempotencyConflict(OutboundError):
    code = "idempotency_conflict"


class InvalidContent(OutboundError):
    code = "invalid_content"


class NotRetryable(OutboundError):
    code = "not_retryable"
