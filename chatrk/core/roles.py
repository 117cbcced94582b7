"""Roles and the permissions they grant: the one place where access is decided."""

from __future__ import annotations

from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    AGENT = "agent", "Agent"
    MARKETER = "marketer", "Marketer"
    COMPLIANCE = "compliance", "Compliance officer"
    AUDITOR = "auditor", "Auditor (read-only)"


class Perm(StrEnum):
    VIEW_WORKSPACE = "workspace.view"
    MANAGE_WORKSPACE = "workspace.manage"
    VIEW_MEMBERS = "members.view"
    MANAGE_MEMBERS = "members.manage"
    MANAGE_OWNERS = "members.manage_owners"
    MANAGE_TOKENS = "tokens.manage"
    READ_INBOX = "inbox.read"
    REPLY_INBOX = "inbox.reply"
    MANAGE_CANNED = "canned.manage"  # the workspace's saved replies; everyone who replies may use them
    EXPORT_TRANSCRIPTS = "inbox.export_transcripts"  # a whole thread, decrypted, as a download
    WRITE_TEMPLATES = "templates.write"
    APPROVE_TEMPLATES = "templates.approve"
    MANAGE_CAMPAIGNS = "campaigns.manage"
    MANAGE_COMPLIANCE = "compliance.manage"
    READ_AUDIT = "audit.read"
    READ_CONSENT = "consent.read"
    MANAGE_CONSENT = "consent.manage"


_EVERYONE = frozenset({Perm.VIEW_WORKSPACE, Perm.VIEW_MEMBERS})
_ADMIN = frozenset(Perm) - {Perm.MANAGE_OWNERS}

ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.OWNER: frozenset(Perm),
    Role.ADMIN: _ADMIN,
    Role.AGENT: _EVERYONE | {Perm.READ_INBOX, Perm.REPLY_INBOX, Perm.READ_CONSENT},
    Role.MARKETER: _EVERYONE | {Perm.WRITE_TEMPLATES, Perm.MANAGE_CAMPAIGNS, Perm.READ_CONSENT},
    Role.COMPLIANCE: _EVERYONE
    | {Perm.APPROVE_TEMPLATES, Perm.MANAGE_COMPLIANCE, Perm.READ_AUDIT, Perm.READ_INBOX}
    | {Perm.EXPORT_TRANSCRIPTS}
    | {Perm.READ_CONSENT, Perm.MANAGE_CONSENT},
    Role.AUDITOR: _EVERYONE | {Perm.READ_AUDIT, Perm.READ_CONSENT},
}


def role_allows(role: str, perm: Perm) -> bool:
    try:
        return perm in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False  # an unknown role grants nothing


def assignable_roles(by_role: str) -> list[Role]:
    """Roles a member with ``by_role`` may hand out: only owners make owners."""
    if role_allows(by_role, Perm.MANAGE_OWNERS):
        return list(Role)
    if role_allows(by_role, Perm.MANAGE_MEMBERS):
        return [role for role in Role if role is not Role.OWNER]
    return []
