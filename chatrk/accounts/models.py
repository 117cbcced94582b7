"""People who sign in to Chatrk, their second factors, sessions and API tokens."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models

from chatrk.core.models import TenantModel


class UserManager(BaseUserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username or "")


class User(AbstractBaseUser):
    """A staff member of one or more workspaces (customers are Contacts, never Users)."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    password_changed_at = models.DateTimeField(null=True, blank=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["name"]
    objects: ClassVar[UserManager] = UserManager()

    def __str__(self) -> str:
        return f"user {self.pk}"


class TotpDevice(models.Model):
    """One TOTP authenticator per user; seeds are sealed under the key-encryption key.

    A new seed waits in ``pending_seed`` until a code from it is entered, so re-enrolling never
    leaves the user without a working factor.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp")
    sealed_seed = models.BinaryField(null=True)
    pending_seed = models.BinaryField(null=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last accepted time step: a code is accepted once, never again (RFC 6238 §5.2, NIST 800-63B).
    last_step = models.BigIntegerField(default=-1)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"totp of user {self.user_id}"


class RecoveryCode(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=200)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code {self.pk}"


class UserSession(AbstractBaseSession):
    """A server-side session the user can see and revoke; deleting the row ends it."""

    user = models.ForeignKey(User, null=True, on_delete=models.CASCADE, related_name="sessions")
    created_at = models.DateTimeField(null=True)
    last_seen_at = models.DateTimeField(null=True)
    ip = models.GenericIPAddressField(null=True)
    user_agent = models.CharField(max_length=200, blank=True)

    @classmethod
    def get_session_store_class(cls) -> Any:
        from chatrk.accounts.sessions import SessionStore

        return SessionStore


class LoginThrottle(models.Model):
    """Failed sign-ins per key (an account lane or a source address) and the delay they earned."""

    key = models.CharField(max_length=128, unique=True)
    failures = models.PositiveIntegerField(default=0)
    blocked_until = models.DateTimeField(null=True)
    last_failure_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"throttle {self.pk}"


class ApiToken(TenantModel):
    """A workspace API token: scoped, expiring, shown once, stored as SHA-256."""

    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token {self.prefix}"


class SetupLink(models.Model):
    """The one-time link that creates the first owner; there are no default credentials."""

    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"setup link {self.pk}"


class PasswordReset(models.Model):
    """A one-time link an admin hands a member who forgot their password.

    It replaces the password only together with the member's second factor, so it never bypasses 2FA.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    issued_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")  # None: CLI
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"password reset {self.pk}"


class Passkey(models.Model):
    """A WebAuthn credential the user registered as a second factor.

    Only what verification needs is kept: the credential's id and public key, its signature counter,
    transports and the authenticator model (AAGUID). ``user_handle`` is random per user, never the user
    id or e-mail, so an authenticator holds nothing that identifies the person.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkeys")
    name = models.CharField(max_length=60)
    credential_id = models.BinaryField(max_length=1023, unique=True)
    public_key = models.BinaryField()
    sign_count = models.BigIntegerField(default=0)
    transports = models.JSONField(default=list)
    aaguid = models.CharField(max_length=36, blank=True)
    user_handle = models.BinaryField(max_length=64)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"passkey {self.pk}"


class PasskeyChallenge(models.Model):
    """A WebAuthn challenge: single use, short-lived, bound to the user and to the browser session.

    Only its SHA-256 is stored; the challenge comes back inside the signed client data.
    """

    class Purpose(models.TextChoices):
        REGISTER = "register"
        SIGN_IN = "sign_in"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    challenge_digest = models.CharField(max_length=64, unique=True)
    session_digest = models.CharField(max_length=64)
    user_handle = models.BinaryField(max_length=64, null=True)  # registration: the handle the options named
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"passkey challenge {self.pk}"
