"""Tenancy actions: invitations, roles and membership. Each runs in one transaction with its event."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet

from chatrk.audit.actions import Actor, Origin, record
from chatrk.core import tokens
from chatrk.core.clock import now
from chatrk.core.errors import TenancyError
from chatrk.core.models import Invitation, Membership
from chatrk.core.roles import Perm, Role, assignable_roles, role_allows


def invite(by: Membership, *, email: str, role: str, origin: Origin) -> tuple[Invitation, str]:
    """A single-use invitation; returns it and the secret for the link (shown to the inviter once)."""
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise TenancyError("Enter a valid e-mail address.", field="email") from None
    _check_can_grant(by, role)
    if Membership.objects.for_workspace(by.workspace_id).filter(user__email__iexact=email).exists():
        raise TenancyError("This person is already a member of the workspace.", field="email")
    secret = tokens.new_secret()
    with transaction.atomic():
        invitation = Invitation.objects.create(
            workspace_id=by.workspace_id,
            email=email,
            role=role,
            token_hash=tokens.digest(secret),
            invited_by_id=by.user_id,
            created_at=now(),
            expires_at=now() + settings.INVITATION_TTL,
        )
        record(
            "member.invited",
            actor=Actor.user(by.user_id),
            workspace_id=by.workspace_id,
            target=("invitation", invitation.pk),
            origin=origin,
            details={"role": role},
        )
    return invitation, secret


def revoke_invitation(by: Membership, invitation: Invitation, *, origin: Origin) -> None:
    with transaction.atomic():
        invitation.revoked_at = now()
        invitation.save(update_fields=["revoked_at"])
        record(
            "member.invitation_revoked",
            actor=Actor.user(by.user_id),
            workspace_id=by.workspace_id,
            target=("invitation", invitation.pk),
            origin=origin,
        )


def _usable_invitations(secret: str) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        token_hash=tokens.digest(secret),
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=now(),
    )


def usable_invitation(secret: str) -> Invitation | None:
    found: Invitation | None = _usable_invitations(secret).select_related("workspace").first()
    return found


def accept_invitation(secret: str, *, user_id: int, email: str, origin: Origin) -> Membership:
    """Joins the invited workspace; the invitation works once, for the address it was sent to."""
    with transaction.atomic():
        invitation = _usable_invitations(secret).select_for_update().first()
        if invitation is None:
            raise TenancyError("This invitation has expired, was revoked or was already used.")
        if invitation.email.lower() != email.strip().lower():
            raise TenancyError("This invitation was sent to another e-mail address.")
        invitation.accepted_at = now()
        invitation.save(update_fields=["accepted_at"])
        membership, _ = Membership.objects.get_or_create(
            workspace_id=invitation.workspace_id,
            user_id=user_id,
            defaults={"role": invitation.role, "created_at": now()},
        )
        record(
            "member.joined",
            actor=Actor.user(user_id),
            workspace_id=invitation.workspace_id,
            target=("invitation", invitation.pk),
            origin=origin,
            details={"role": membership.role},
        )
    return membership


def change_role(by: Membership, member: Membership, role: str, *, origin: Origin) -> None:
    _check_can_manage(by, member)
    _check_can_grant(by, role)
    if member.role == Role.OWNER and role != Role.OWNER:
        _keep_an_owner(member)
    with transaction.atomic():
        old = member.role
        member.role = role
        member.save(update_fields=["role"])
        record(
            "member.role_changed",
            actor=Actor.user(by.user_id),
            workspace_id=by.workspace_id,
            target=("user", member.user_id),
            origin=origin,
            details={"from": old, "to": role},
        )


def remove_member(by: Membership, member: Membership, *, origin: Origin) -> None:
    _check_can_manage(by, member)
    if member.role == Role.OWNER:
        _keep_an_owner(member)
    with transaction.atomic():
        member.delete()
        record(
            "member.removed",
            actor=Actor.user(by.user_id),
            workspace_id=by.workspace_id,
            target=("user", member.user_id),
            origin=origin,
        )


def _check_can_grant(by: Membership, role: str) -> None:
    if role not in {r.value for r in assignable_roles(by.role)}:
        raise TenancyError("Your role cannot give this role.", field="role")


def _check_can_manage(by: Membership, member: Membership) -> None:
    if member.workspace_id != by.workspace_id:
        raise TenancyError("No such member.")
    if member.role == Role.OWNER and not role_allows(by.role, Perm.MANAGE_OWNERS):
        raise TenancyError("Only an owner can change an owner.")
    if not role_allows(by.role, Perm.MANAGE_MEMBERS):
        raise TenancyError("Your role cannot manage members.")


def _keep_an_owner(member: Membership) -> None:
    owners = Membership.objects.for_workspace(member.workspace_id).filter(role=Role.OWNER)
    if not owners.exclude(pk=member.pk).exists():
        raise TenancyError("A workspace needs at least one owner.", field="role")
