"""Hooks the consent app (not written yet) fills in. Until then they do nothing.

They are called inside the drainer's transaction, once per new event (never for a duplicate), so an
implementation can write its ledger rows atomically with the inbox change. They must not do I/O
beyond the database and must not raise for ordinary input.
"""

from __future__ import annotations

from datetime import datetime

from chatrk.whatsapp.enums import MarketingPreference

# Single words a customer sends to stop or restart messages (compared after trim and case folding).
STOP_KEYWORDS = frozenset({"stop", "unsubscribe", "stopall", "cancel", "end", "quit", "opt out", "optout"})
START_KEYWORDS = frozenset({"start", "unstop", "subscribe", "resume"})


def marketing_preference_changed(
    *,
    workspace_id: int,
    channel_id: int,
    contact_id: int,
    message_id: int,
    preference: MarketingPreference,
    at: datetime,
) -> None:
    """Meta's ``user_preferences`` webhook: the customer stopped, resumed or signed up to marketing."""


def keyword_received(
    *, workspace_id: int, channel_id: int, contact_id: int, message_id: int, keyword: str, at: datetime
) -> None:
    """The customer sent a STOP or START keyword (``keyword`` is the normalised word, e.g. "stop")."""


def opt_keyword(text: str) -> str | None:
    """The normalised keyword if a message is only an opt-out/opt-in word, else ``None``."""
    word = " ".join(text.split()).casefold()
    if word in STOP_KEYWORDS or word in START_KEYWORDS:
        return word
    return None
