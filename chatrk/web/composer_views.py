"""The composer under a thread: free text inside the 24-hour window, templates outside it, attachments,
canned responses and internal notes.

The thread page (``inbox_views``) renders
``web/inbox/_composer.html`` with the context ``composer_context`` returns.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import URLPattern

from chatrk.inbox.models import Conversation

urlpatterns: list[URLPattern] = []


def composer_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    return {}
