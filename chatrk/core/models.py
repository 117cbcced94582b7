"""Tenancy: a workspace is one business; members hold one role each."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models

from chatrk.core.roles import Role


class Workspace(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.slug


class TenantQuerySet[M: models.Model](models.QuerySet[M]):
    def for_workspace(self, workspace: Workspace | int) -> TenantQuerySet[M]:
        workspace_id = workspace if isinstance(workspace, int) else workspace.pk
        return self.filter(workspace_id=workspace_id)


class TenantModel(models.Model):
    """Every row that belongs to a tenant carries its workspace and is read through ``for_workspace``."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    objects: ClassVar[Any] = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class Membership(TenantModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.workspace_id}:{self.role}"


class Invitation(TenantModel):
    """A single-use invitation; only the SHA-256 of its 256-bit token is stored."""

    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"invitation {self.pk}"
