"""Session engine: Django's database sessions, stored as rows the user can list and revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DbSessionStore

from chatrk.core.clock import now

# Keys kept in the session; their meaning is fixed here so the middleware and login agree.
AUTH_AT = "chatrk.auth_at"  # when the user last proved both factors (ISO time)
SEEN_AT = "chatrk.seen_at"  # last activity, refreshed at most once a minute
REAUTH_AT = "chatrk.reauth_at"  # last re-authentication for sensitive changes
IP = "chatrk.ip"
USER_AGENT = "chatrk.user_agent"
# Requests a page makes by itself (the inbox's live updates) are not activity: an unattended browser
# still signs out after the idle timeout.
PASSIVE_PATH_SUFFIX = "/live/"


class SessionStore(DbSessionStore):
    @classmethod
    def get_model_class(cls) -> Any:
        from chatrk.accounts.models import UserSession

        return UserSession

    def create_model_instance(self, data: dict[str, Any]) -> Any:
        instance: Any = super().create_model_instance(data)
        user_id = data.get("_auth_user_id")
        instance.user_id = int(user_id) if user_id else None
        instance.created_at = datetime.fromisoformat(data[AUTH_AT]) if AUTH_AT in data else None
        instance.last_seen_at = now()
        instance.ip = data.get(IP) or None
        instance.user_agent = (data.get(USER_AGENT) or "")[:200]
        return instance
