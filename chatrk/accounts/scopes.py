"""API token scopes and the permission each one needs from the member who grants it."""

from __future__ import annotations

from enum import StrEnum

from chatrk.core.roles import Perm, role_allows


class Scope(StrEnum):
    WORKSPACE_READ = "workspace:read"
    MEMBERS_READ = "members:read"
    AUDIT_READ = "audit:read"
    TEMPLATES_READ = "templates:read"
    TEMPLATES_WRITE = "templates:write"
    TEMPLATES_APPROVE = "templates:approve"
    POLICY_REVIEW = "policy:review"
    CONSENT_READ = "consent:read"
    CONSENT_WRITE = "consent:write"
    CHANNELS_READ = "channels:read"
    CHANNELS_WRITE = "channels:write"  # a number's round-robin setting (connecting stays in the web UI)
    LABELS_WRITE = "labels:write"
    TRANSCRIPTS_EXPORT = "transcripts:export"
    CONTACTS_READ = "contacts:read"
    CONVERSATIONS_READ = "conversations:read"
    CONVERSATIONS_WRITE = "conversations:write"
    MESSAGES_READ = "messages:read"
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
    Scope.TEMPLATES_READ: Perm.VIEW_WORKSPACE,
    Scope.TEMPLATES_WRITE: Perm.WRITE_TEMPLATES,
    Scope.TEMPLATES_APPROVE: Perm.APPROVE_TEMPLATES,
    Scope.POLICY_REVIEW: Perm.MANAGE_COMPLIANCE,
    Scope.CONSENT_READ: Perm.READ_CONSENT,
    Scope.CONSENT_WRITE: Perm.MANAGE_CONSENT,
    Scope.CHANNELS_READ: Perm.READ_INBOX,
    Scope.CHANNELS_WRITE: Perm.MANAGE_WORKSPACE,
    Scope.LABELS_WRITE: Perm.MANAGE_WORKSPACE,
    Scope.TRANSCRIPTS_EXPORT: Perm.EXPORT_TRANSCRIPTS,
    Scope.CONTACTS_READ: Perm.READ_INBOX,
    Scope.CONVERSATIONS_READ: Perm.READ_INBOX,
    Scope.CONVERSATIONS_WRITE: Perm.REPLY_INBOX,
    Scope.MESSAGES_READ: Perm.READ_INBOX,
    Scope.MESSAGES_WRITE: Perm.REPLY_INBOX,
}
