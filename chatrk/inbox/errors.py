"""Errors an inbox action raises with a message fit to show the user."""

from __future__ import annotations

from chatrk.core.errors import UserError


class InboxError(UserError):
    """A channel, contact or conversation action was refused."""
