"""The work on a conversation: assignment (and round-robin), labels, snooze and resolve,
block, transcript export.

The thread page (``inbox_views``) renders
``web/inbox/_work.html`` with the context ``tools_context`` returns.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import URLPattern

from chatrk.inbox.models import Conversation

urlpatterns: list[URLPattern] = []


def tools_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    return {}
