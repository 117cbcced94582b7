"""Errors whose message is written for the person using Chatrk, optionally tied to a form field."""

from __future__ import annotations


class UserError(Exception):
    """Base of every app's user-facing error: views show ``message`` next to ``field`` (or the form)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class TenancyError(UserError):
    """A workspace, membership or invitation action was refused."""
