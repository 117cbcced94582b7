"""API token scopes and the permission each one needs from the member who grants it."""

from __future__ import annotations

from enum import StrEnum

from chatrk.core.roles import Perm, role_allows


class Scope(StrEnum):
    WORKSPACE_READ = "workspace:read"
    MEMBERS_READ = "members:read"
    AUDIT_READ = "audit:read"
    MESSAGES_WRITE = "messages:write"  # send messages, retry failed ones, mark received ones read

    @property
    def permission(self) -> Perm:
        return _NEEDS[self]

    def allowed_for(self, role: str) -> bool:
        return role_allows(role, self.permission)


_NEEDS: dict[Scope, Perm] = {
    Scope.WORKSPACE_READ: Perm.VIEW_WORKSPACE,
    Scope.MEMBERS_READ: Perm.VIEW_MEMBERS,
    Scope.AUDIT_READ: Perm.READ_AUDIT,
    Scope.MESSAGES_WRITE: Perm.REPLY_INBOX,
}
