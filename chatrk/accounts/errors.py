"""Errors an account action raises with a message fit to show the user."""

from __future__ import annotations

from chatrk.core.errors import UserError


class AccountError(UserError):
    """A sign-in, credential or token action was refused."""
