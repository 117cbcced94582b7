"""Errors a consent action raises, with a message fit to show the user (never personal data)."""

from __future__ import annotations


class ConsentError(Exception):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class LedgerIsAppendOnly(ConsentError):
    """Raised when code tries to change or delete a ledger row (the database refuses it too)."""
