"""Errors a policy action raises with a message fit to show the user (never message text)."""

from __future__ import annotations


class PolicyError(Exception):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
