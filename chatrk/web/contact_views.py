"""The contact panel beside a thread: consent per purpose with its proof, block, notes, data-subject requests.

The thread page (``inbox_views``) renders
``web/inbox/_contact.html`` with the context ``contact_panel_context`` returns.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import URLPattern

from chatrk.inbox.models import Conversation

urlpatterns: list[URLPattern] = []


def contact_panel_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    return {}
