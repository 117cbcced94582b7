"""Account actions: the only code that writes users, factors, sessions and tokens.

Each action runs in one transaction and records its audit event inside it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from chatrk.accounts import passkeys, recovery, sessions, totp
from chatrk.accounts.errors import AccountError
from chatrk.accounts.models import (
    ApiToken,
    Passkey,
    PasskeyChallenge,
    PasswordReset,
    RecoveryCode,
    SetupLink,
    TotpDevice,
    User,
    UserSession,
)
from chatrk.accounts.passwords import normalise
from chatrk.accounts.scopes import Scope
from chatrk.accounts.throttle import (
    ACCOUNT,
    SECOND_FACTOR,
    SOURCE,
    Lane,
    clear,
    register_failure,
    retry_after,
)
from chatrk.audit.actions import ANONYMOUS, SYSTEM, Actor, Origin, keyed_hash, record
from chatrk.audit.models import Outcome
from chatrk.core import tokens
from chatrk.core.clock import now
from chatrk.core.models import Membership, Workspace
from chatrk.core.roles import Role
from chatrk.crypto.system import seal, unseal

TOTP_CONTEXT = "accounts.totp_device.seed"


def origin_of(request: HttpRequest) -> Origin:
    return Origin(
        ip=getattr(request, "client_ip", ""), user_agent=request.META.get("HTTP_USER_AGENT", "")[:300]
    )


# --- First run -------------------------------------------------------------------------------------


def create_setup_link() -> str:
    """A fresh one-time link for the first owner; earlier unused links stop working."""
    secret = tokens.new_secret()
    with transaction.atomic():
        SetupLink.objects.filter(used_at__isnull=True).delete()
        moment = now()
        SetupLink.objects.create(
            token_hash=tokens.digest(secret),
            created_at=moment,
            expires_at=moment + settings.SETUP_LINK_TTL,
        )
        record("setup.link_created", actor=Actor("system"))
    return f"{settings.PUBLIC_URL}/setup/{secret}"


def announce_setup_link(say: Callable[[str], None]) -> None:
    if User.objects.exists():
        return
    say(
        "\nNo owner yet. Open this one-time link to create the first owner account:\n\n"
        f"  {create_setup_link()}\n"
    )


def _usable_setup_links(secret: str) -> QuerySet[SetupLink]:
    return SetupLink.objects.filter(
        token_hash=tokens.digest(secret), used_at__isnull=True, expires_at__gt=now()
    )


def valid_setup_link(secret: str) -> SetupLink | None:
    return _usable_setup_links(secret).first()


def new_user(email: str, name: str, password: str, *, context: Iterable[str] = ()) -> User:
    """Builds (unsaved) a user whose password passed every rule; raises ValidationError otherwise."""
    user = User(email=email.strip().lower(), name=name.strip(), created_at=now())
    user.password_context = list(context)  # type: ignore[attr-defined]
    validate_password(password, user)
    user.set_password(normalise(password))
    user.password_changed_at = user.created_at
    return user


def complete_setup(secret: str, *, workspace_name: str, slug: str, user: User, origin: Origin) -> User:
    with transaction.atomic():
        claimed = _usable_setup_links(secret).select_for_update().first()
        if claimed is None or User.objects.exists():
            raise AccountError("This setup link has expired or was already used.")
        claimed.used_at = now()
        claimed.save(update_fields=["used_at"])
        user.save()
        workspace = Workspace.objects.create(name=workspace_name.strip(), slug=slug, created_at=now())
        Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER, created_at=now())
        record("setup.completed", actor=Actor.user(user.pk), workspace_id=workspace.pk, origin=origin)
    return user


# --- Signing in ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    user: User | None
    retry_after: int = 0


def _password_lanes(email: str, device_user_id: int | None, device_id: str, ip: str) -> list[Lane]:
    account = keyed_hash(email.strip().lower(), purpose="throttle")
    user_id = User.objects.filter(email__iexact=email.strip()).values_list("pk", flat=True).first()
    trusted = device_id and user_id is not None and device_user_id == user_id
    lane = f"pw:{account}:{'device:' + device_id if trusted else 'elsewhere'}"
    return [Lane(lane, ACCOUNT), Lane(f"ip:{ip}", SOURCE)]


def check_password_step(
    email: str, password: str, *, origin: Origin, device_user_id: int | None, device_id: str
) -> Attempt:
    """First factor. Unknown accounts and wrong passwords look alike and cost the same."""
    moment = now()
    lanes = _password_lanes(email, device_user_id, device_id, origin.ip)
    wait = retry_after(lanes, moment)
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if wait:
        record(
            "authn.throttled",
            actor=ANONYMOUS,
            target=_user_target(user),
            outcome=Outcome.DENIED,
            reason="too_many_attempts",
            origin=origin,
            details={"factor": "password"},
        )
        return Attempt(None, wait)
    ok = check_password(normalise(password), user.password if user else make_password(None))
    if user is None or not ok:
        register_failure(lanes, moment)
        record(
            "authn.login_failure",
            actor=ANONYMOUS,
            target=_user_target(user),
            outcome=Outcome.FAILURE,
            reason="unknown_account" if user is None else "bad_password",
            origin=origin,
            details={"factor": "password"},
        )
        return Attempt(None)
    clear(lanes[:1])
    return Attempt(user)


def _user_target(user: User | None) -> tuple[str, int] | None:
    return ("user", user.pk) if user else None


def _second_factor_lanes(user: User) -> list[Lane]:
    return [Lane(f"2fa:{user.pk}", SECOND_FACTOR)]


def _throttled(user: User, lanes: list[Lane], factor: str, origin: Origin) -> int:
    """Seconds the user must wait before another second-factor attempt; a refusal is recorded."""
    wait = retry_after(lanes, now())
    if wait:
        record("authn.throttled", actor=Actor.user(user.pk), target=("user", user.pk),
               outcome=Outcome.DENIED, reason="too_many_attempts", origin=origin,
               details={"factor": factor})  # fmt: skip
    return wait


def check_second_factor(user: User, code: str, *, origin: Origin) -> tuple[str, int]:
    """Verifies a TOTP or recovery code; returns the factor used (or "") and seconds to wait."""
    lanes = _second_factor_lanes(user)
    wait = _throttled(user, lanes, "second", origin)
    if wait:
        return "", wait
    factor = _use_totp(user, code) or _use_recovery_code(user, code, origin)
    if not factor:
        register_failure(lanes, now())
        record(
            "authn.login_failure",
            actor=Actor.user(user.pk),
            target=("user", user.pk),
            outcome=Outcome.FAILURE,
            reason="bad_code",
            origin=origin,
            details={"factor": "second"},
        )
        return "", 0
    clear(lanes)
    return factor, 0


def _use_totp(user: User, code: str) -> str:
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
        if device is None:
            return ""
        seed = unseal(_stored(device.sealed_seed), context=_seed_context(user))
        step = totp.matching_step(seed, code, at=now(), after_step=device.last_step)
        if step is None:
            return ""
        device.last_step = step
        device.save(update_fields=["last_step"])
    return "totp"


def _use_recovery_code(user: User, typed: str, origin: Origin) -> str:
    code = recovery.normalise(typed)
    if not code:
        return ""
    with transaction.atomic():
        for candidate in RecoveryCode.objects.select_for_update().filter(user=user, used_at__isnull=True):
            if check_password(code, candidate.code_hash):
                candidate.used_at = now()
                candidate.save(update_fields=["used_at"])
                left = RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
                record(
                    "authn.recovery_code_used",
                    actor=Actor.user(user.pk),
                    target=("user", user.pk),
                    origin=origin,
                    details={"codes_left": left},
                )
                return "recovery_code"
    return ""


def sign_in(request: HttpRequest, user: User, *, factor: str) -> None:
    """Both factors passed: a new session id (no fixation), timestamps for the timeouts, an event."""
    with transaction.atomic():
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        moment = now().isoformat()
        origin = origin_of(request)
        request.session.update(
            {
                sessions.AUTH_AT: moment,
                sessions.SEEN_AT: moment,
                sessions.REAUTH_AT: moment,
                sessions.IP: origin.ip,
                sessions.USER_AGENT: origin.user_agent,
            }
        )
        request.session.save()
        record(
            "authn.login_success",
            actor=Actor.user(user.pk),
            target=("user", user.pk),
            origin=origin,
            details={"factors": f"password+{factor}"},
        )


def reauthenticate(
    request: HttpRequest, user: User, password: str, code: str = "", *, passkey: str = ""
) -> tuple[bool, int]:
    """Full re-authentication before sensitive changes (password and a code or a passkey answer);
    the session id changes too."""
    origin = origin_of(request)
    # Signed-in users re-authenticate in a lane of their own, apart from strangers' attempts.
    attempt = check_password_step(
        user.email, password, origin=origin, device_user_id=user.pk, device_id="reauth"
    )
    if attempt.user is None or attempt.user.pk != user.pk:
        return False, attempt.retry_after
    if passkey:
        factor, wait = check_passkey(user, passkey, session_key=request.session.session_key, origin=origin)
    else:
        factor, wait = check_second_factor(user, code, origin=origin)
    if not factor:
        return False, wait
    request.session.cycle_key()
    request.session[sessions.REAUTH_AT] = now().isoformat()
    record(
        "authn.reauthenticated",
        actor=Actor.user(user.pk),
        target=("user", user.pk),
        origin=origin,
        details={"factors": f"password+{factor}"},
    )
    return True, 0


def recently_authenticated(request: HttpRequest) -> bool:
    at = request.session.get(sessions.REAUTH_AT)
    return isinstance(at, str) and now() - datetime.fromisoformat(at) <= settings.REAUTH_WINDOW


# --- Two-factor enrolment --------------------------------------------------------------------------


def enrolment_seed(user: User) -> bytes:
    """The seed being enrolled; kept sealed until confirmed, so a reload shows the same QR code."""
    with transaction.atomic():
        device, _ = TotpDevice.objects.select_for_update().get_or_create(
            user=user, defaults={"created_at": now()}
        )
        if device.pending_seed is None:
            device.pending_seed = seal(totp.new_seed(), context=_seed_context(user))
            device.save(update_fields=["pending_seed"])
        return unseal(_stored(device.pending_seed), context=_seed_context(user))


def _seed_context(user: User) -> str:
    return f"{TOTP_CONTEXT}|{user.pk}"


def _stored(value: bytes | memoryview | None) -> bytes:
    """Binary columns come back as memoryview on PostgreSQL and bytes on SQLite."""
    if value is None:
        raise AccountError("No authenticator is set up for this account.")
    return bytes(value)


def confirm_enrolment(user: User, code: str, *, origin: Origin) -> list[str] | None:
    """Makes the pending seed the user's factor once a code from it is entered.

    Returns fresh recovery codes on first enrolment (an empty list on re-enrolment), None if the
    code is wrong. Re-enrolment ends the user's other sessions.
    """
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user, pending_seed__isnull=False).first()
        if device is None:
            return None
        seed = unseal(_stored(device.pending_seed), context=_seed_context(user))
        step = totp.matching_step(seed, code, at=now(), after_step=-1)
        if step is None:
            record(
                "2fa.enrol_failure",
                actor=Actor.user(user.pk),
                target=("user", user.pk),
                outcome=Outcome.FAILURE,
                reason="bad_code",
                origin=origin,
            )
            return None
        first = device.confirmed_at is None
        device.sealed_seed, device.pending_seed = device.pending_seed, None
        device.confirmed_at, device.last_step = now(), step
        device.save()
        record(
            "2fa.enrolled" if first else "2fa.reset",
            actor=Actor.user(user.pk),
            target=("user", user.pk),
            origin=origin,
            details={"factor": "totp"},
        )
        return replace_recovery_codes(user, origin=origin) if first else []


def has_second_factor(user: User) -> bool:
    """Mandatory 2FA is satisfied by a confirmed authenticator app or a registered passkey."""
    return (
        TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()
        or Passkey.objects.filter(user=user).exists()
    )


def replace_recovery_codes(user: User, *, origin: Origin) -> list[str]:
    """Ten new codes; every earlier code stops working. The caller shows them once."""
    codes = recovery.new_codes()
    with transaction.atomic():
        RecoveryCode.objects.filter(user=user).delete()
        RecoveryCode.objects.bulk_create(RecoveryCode(user=user, code_hash=make_password(c)) for c in codes)
        record(
            "2fa.recovery_codes_replaced", actor=Actor.user(user.pk), target=("user", user.pk), origin=origin
        )
    return [recovery.display(c) for c in codes]


# --- Passkeys (WebAuthn) ---------------------------------------------------------------------------

PASSKEY_NAME_MAX = 60


def _relying_party() -> passkeys.RelyingParty:
    try:
        return passkeys.relying_party()
    except passkeys.PasskeysUnavailable as error:
        raise AccountError(str(error)) from error


def _session_digest(session_key: str | None) -> str:
    if not session_key:
        raise AccountError("Your session has ended. Sign in again.")
    return keyed_hash(session_key, purpose="passkey-challenge")


def _issue_challenge(
    user: User, purpose: str, session_key: str | None, *, user_handle: bytes | None = None
) -> bytes:
    """A fresh challenge for this user in this browser session; earlier ones of the session lapse."""
    challenge, binding, moment = passkeys.new_challenge(), _session_digest(session_key), now()
    with transaction.atomic():
        PasskeyChallenge.objects.filter(expires_at__lte=moment).delete()
        PasskeyChallenge.objects.filter(user=user, session_digest=binding).delete()
        PasskeyChallenge.objects.create(
            user=user,
            purpose=purpose,
            challenge_digest=passkeys.digest(challenge),
            session_digest=binding,
            user_handle=user_handle,
            expires_at=moment + passkeys.CHALLENGE_TTL,
        )
    return challenge


def _claim_challenge(user: User, purpose: str, challenge: bytes, session_key: str | None) -> PasskeyChallenge:
    """Uses up the challenge the response signed over: it must be this user's, from this session,
    for this purpose, unexpired and unused. A failed verification does not give it back."""
    mine = PasskeyChallenge.objects.filter(
        user=user,
        purpose=purpose,
        challenge_digest=passkeys.digest(challenge),
        session_digest=_session_digest(session_key),
        used_at__isnull=True,
        expires_at__gt=now(),
    )
    with transaction.atomic():
        row = mine.select_for_update().first()
        if row is None or mine.filter(pk=row.pk).update(used_at=now()) != 1:
            raise passkeys.PasskeyRejected("unknown_or_used_challenge")
    return row


def _user_handle(user: User) -> bytes:
    """The random WebAuthn user handle, shared by the user's passkeys (never the id or e-mail)."""
    existing = Passkey.objects.filter(user=user).values_list("user_handle", flat=True).first()
    return bytes(existing) if existing is not None else passkeys.new_user_handle()


def _credentials_of(user: User) -> list[tuple[bytes, list[str]]]:
    return [
        (bytes(cid), list(transports))
        for cid, transports in Passkey.objects.filter(user=user).values_list("credential_id", "transports")
    ]


def begin_passkey_registration(user: User, *, session_key: str | None) -> str:
    """The options (JSON) for navigator.credentials.create(); the challenge is kept server-side."""
    rp, handle = _relying_party(), _user_handle(user)
    return passkeys.registration_options(
        rp,
        challenge=_issue_challenge(user, PasskeyChallenge.Purpose.REGISTER, session_key, user_handle=handle),
        user_handle=handle,
        account=user.email,
        display_name=user.name,
        existing=_credentials_of(user),
    )


def register_passkey(
    request: HttpRequest, user: User, *, name: str, response: str, origin: Origin
) -> Passkey:
    """Adds a verified passkey; a 2FA change, so the user's other sessions end."""
    name = " ".join(name.split())[:PASSKEY_NAME_MAX]
    if not name:
        raise AccountError("Give the passkey a name, e.g. the device it is on.", field="name")
    try:
        credential = passkeys.parse_registration(response)
        challenge = passkeys.challenge_in(credential.response.client_data_json)
        issued = _claim_challenge(
            user, PasskeyChallenge.Purpose.REGISTER, challenge, request.session.session_key
        )
        if issued.user_handle is None:
            raise passkeys.PasskeyRejected("challenge_without_handle")
        verified = passkeys.verify_registration(credential, challenge=challenge, rp=_relying_party())
    except passkeys.PasskeyRejected as rejected:
        _record_passkey_failure("2fa.passkey_add_failure", user, rejected.reason, origin)
        raise AccountError(
            "The passkey could not be registered: the request expired or did not check out. Try again."
        ) from rejected
    with transaction.atomic():
        if Passkey.objects.filter(credential_id=verified.credential_id).exists():
            raise AccountError("This passkey is already registered.")
        passkey = Passkey.objects.create(
            user=user,
            name=name,
            credential_id=verified.credential_id,
            public_key=verified.public_key,
            sign_count=verified.sign_count,
            transports=verified.transports,
            aaguid=verified.aaguid,
            user_handle=bytes(issued.user_handle),
            created_at=now(),
        )
        ended = end_other_sessions(user, keep=request.session.session_key)
        record(
            "2fa.passkey_added",
            actor=Actor.user(user.pk),
            target=("passkey", passkey.pk),
            origin=origin,
            details={"factor": "passkey", "aaguid": verified.aaguid, "sessions_ended": ended},
        )
    return passkey


def remove_passkey(request: HttpRequest, user: User, passkey_id: int, *, origin: Origin) -> bool:
    """Removes one of the user's own passkeys, never their last second factor."""
    with transaction.atomic():
        passkey = Passkey.objects.select_for_update().filter(user=user, pk=passkey_id).first()
        if passkey is None:
            return False
        others = Passkey.objects.filter(user=user).exclude(pk=passkey.pk).exists()
        totp_on = TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()
        if not others and not totp_on:
            raise AccountError("This is your only second factor: add another before removing it.")
        passkey.delete()
        ended = end_other_sessions(user, keep=request.session.session_key)
        record(
            "2fa.passkey_removed",
            actor=Actor.user(user.pk),
            target=("passkey", passkey_id),
            origin=origin,
            details={"factor": "passkey", "sessions_ended": ended},
        )
    return True


def begin_passkey_sign_in(user: User, *, session_key: str | None) -> str:
    """The options (JSON) for navigator.credentials.get(), allowing only this user's passkeys."""
    allowed = _credentials_of(user)
    if not allowed:
        raise AccountError("This account has no passkey. Use a code from your authenticator app.")
    rp = _relying_party()
    challenge = _issue_challenge(user, PasskeyChallenge.Purpose.SIGN_IN, session_key)
    return passkeys.authentication_options(rp, challenge=challenge, allowed=allowed)


def check_passkey(user: User, response: str, *, session_key: str | None, origin: Origin) -> tuple[str, int]:
    """The second factor by passkey: returns "passkey" (or "") and seconds to wait, like check_second_factor.

    Failures count in the same throttle lane as wrong codes.
    """
    lanes = _second_factor_lanes(user)
    wait = _throttled(user, lanes, "passkey", origin)
    if wait:
        return "", wait
    try:
        passkey_id = _use_passkey(user, response, session_key)
    except passkeys.PasskeyRejected as rejected:
        register_failure(lanes, now())
        _record_passkey_failure("authn.login_failure", user, rejected.reason, origin)
        return "", 0
    clear(lanes)
    record(
        "authn.passkey_used",
        actor=Actor.user(user.pk),
        target=("passkey", passkey_id),
        origin=origin,
        details={"factor": "passkey"},
    )
    return "passkey", 0


def _use_passkey(user: User, response: str, session_key: str | None) -> int:
    try:
        rp = passkeys.relying_party()
    except passkeys.PasskeysUnavailable as error:
        raise passkeys.PasskeyRejected("passkeys_unavailable") from error
    credential = passkeys.parse_assertion(response)
    challenge = passkeys.challenge_in(credential.response.client_data_json)
    _claim_challenge(user, PasskeyChallenge.Purpose.SIGN_IN, challenge, session_key)
    with transaction.atomic():
        passkey = (
            Passkey.objects.select_for_update().filter(user=user, credential_id=credential.raw_id).first()
        )
        if passkey is None:
            raise passkeys.PasskeyRejected("not_this_users_credential")
        handle = credential.response.user_handle
        if handle is not None and handle != bytes(passkey.user_handle):
            raise passkeys.PasskeyRejected("user_handle_mismatch")
        passkey.sign_count = passkeys.verify_assertion(
            credential,
            challenge=challenge,
            rp=rp,
            public_key=bytes(passkey.public_key),
            sign_count=passkey.sign_count,
        )
        passkey.last_used_at = now()
        passkey.save(update_fields=["sign_count", "last_used_at"])
    return passkey.pk


def _record_passkey_failure(action: str, user: User, reason: str, origin: Origin) -> None:
    record(
        action,
        actor=Actor.user(user.pk),
        target=("user", user.pk),
        outcome=Outcome.FAILURE,
        reason=reason,
        origin=origin,
        details={"factor": "passkey"},
    )


# --- Credentials and sessions ----------------------------------------------------------------------


def end_other_sessions(user: User, *, keep: str | None) -> int:
    count, _ = UserSession.objects.filter(user=user).exclude(session_key=keep or "").delete()
    return count


def change_password(request: HttpRequest, user: User, current: str, new: str) -> None:
    """Needs the current password (ASVS V6.2.3); ends every other session of the user."""
    if not check_password(normalise(current), user.password):
        raise AccountError("Your current password is not correct.", field="current_password")
    validate_password(new, user)
    with transaction.atomic():
        user.set_password(normalise(new))
        user.password_changed_at = now()
        user.save(update_fields=["password", "password_changed_at"])
        update_session_auth_hash(request, user)
        ended = end_other_sessions(user, keep=request.session.session_key)
        record(
            "account.password_changed",
            actor=Actor.user(user.pk),
            target=("user", user.pk),
            origin=origin_of(request),
            details={"sessions_ended": ended},
        )


def change_email(request: HttpRequest, user: User, email: str) -> None:
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
        raise AccountError("Another account already uses this e-mail address.", field="email")
    with transaction.atomic():
        user.email = email
        user.save(update_fields=["email"])
        record(
            "account.email_changed",
            actor=Actor.user(user.pk),
            target=("user", user.pk),
            origin=origin_of(request),
        )


def revoke_session(request: HttpRequest, user: User, session_key: str) -> bool:
    with transaction.atomic():
        deleted, _ = UserSession.objects.filter(user=user, session_key=session_key).delete()
        if deleted:
            record(
                "session.revoked",
                actor=Actor.user(user.pk),
                target=("user", user.pk),
                origin=origin_of(request),
            )
    return bool(deleted)


def revoke_other_sessions(request: HttpRequest, user: User) -> int:
    with transaction.atomic():
        ended = end_other_sessions(user, keep=request.session.session_key)
        record(
            "session.revoked_others",
            actor=Actor.user(user.pk),
            target=("user", user.pk),
            origin=origin_of(request),
            details={"sessions_ended": ended},
        )
    return ended


def revoke_member_sessions(request: HttpRequest, by: Membership, member: Membership) -> int:
    """An admin ends every session of a member (e.g. a lost laptop)."""
    with transaction.atomic():
        ended = end_other_sessions(member.user, keep=None)
        record(
            "session.revoked_by_admin",
            actor=Actor.user(by.user_id),
            workspace_id=by.workspace_id,
            target=("user", member.user_id),
            origin=origin_of(request),
            details={"sessions_ended": ended},
        )
    return ended


def issue_password_reset(user_id: int, *, by: Membership | None, origin: Origin) -> str:
    """A one-time link for someone who forgot their password, from an admin (or the operator's CLI when
    ``by`` is None); earlier unused links for them stop working."""
    secret = tokens.new_secret()
    with transaction.atomic():
        PasswordReset.objects.filter(user_id=user_id, used_at__isnull=True).delete()
        PasswordReset.objects.create(
            user_id=user_id,
            token_hash=tokens.digest(secret),
            issued_by_id=by.user_id if by else None,
            created_at=now(),
            expires_at=now() + settings.PASSWORD_RESET_TTL,
        )
        record(
            "account.password_reset_issued",
            actor=Actor.user(by.user_id) if by else SYSTEM,
            workspace_id=by.workspace_id if by else None,
            target=("user", user_id),
            origin=origin,
        )
    return f"{settings.PUBLIC_URL}/reset/{secret}"


def usable_password_reset(secret: str) -> PasswordReset | None:
    found: PasswordReset | None = (
        PasswordReset.objects.select_related("user")
        .filter(
            token_hash=tokens.digest(secret), used_at__isnull=True, expires_at__gt=now(), user__is_active=True
        )
        .first()
    )
    return found


def reset_password(secret: str, *, password: str, code: str, origin: Origin) -> tuple[User | None, int]:
    """Sets a new password if the member also proves their second factor; ends all their sessions."""
    reset = usable_password_reset(secret)
    if reset is None:
        raise AccountError("This reset link has expired or was already used. Ask an admin for a new one.")
    user = reset.user
    validate_password(password, user)
    factor, wait = check_second_factor(user, code, origin=origin)
    if not factor:
        return None, wait
    with transaction.atomic():
        if PasswordReset.objects.filter(pk=reset.pk, used_at__isnull=True).update(used_at=now()) != 1:
            raise AccountError("This reset link was already used.")
        user.set_password(normalise(password))
        user.password_changed_at = now()
        user.save(update_fields=["password", "password_changed_at"])
        ended = end_other_sessions(user, keep=None)
        record(
            "account.password_reset",
            actor=Actor.user(user.pk),
            target=("user", user.pk),
            origin=origin,
            details={"factor": factor, "sessions_ended": ended},
        )
    return user, 0


# --- API tokens ------------------------------------------------------------------------------------

TOKEN_PREFIX = "chk_"  # noqa: S105 (a label, not a secret)
MAX_TOKEN_DAYS = 365


def create_api_token(
    membership: Membership, *, name: str, scopes: list[Scope], days: int, origin: Origin
) -> tuple[ApiToken, str]:
    """Returns the token row and the secret, which is shown once and never stored."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise AccountError(f"A token lasts from 1 to {MAX_TOKEN_DAYS} days.", field="days")
    if not scopes:
        raise AccountError("Choose at least one scope.", field="scopes")
    refused = [s for s in scopes if not s.allowed_for(membership.role)]
    if refused:
        raise AccountError(f"Your role cannot grant: {', '.join(refused)}.", field="scopes")
    prefix, secret = secrets.token_hex(4), tokens.new_secret()
    with transaction.atomic():
        token = ApiToken.objects.create(
            workspace_id=membership.workspace_id,
            name=name.strip(),
            prefix=prefix,
            token_hash=tokens.digest(secret),
            scopes=sorted(scopes),
            created_by_id=membership.user_id,
            created_at=now(),
            expires_at=now() + timedelta(days=days),
        )
        record(
            "token.created",
            actor=Actor.user(membership.user_id),
            workspace_id=membership.workspace_id,
            target=("api_token", token.pk),
            origin=origin,
            details={"scopes": " ".join(token.scopes)},
        )
    return token, f"{TOKEN_PREFIX}{prefix}_{secret}"


def revoke_api_token(membership: Membership, token: ApiToken, *, origin: Origin) -> None:
    with transaction.atomic():
        token.revoked_at = now()
        token.save(update_fields=["revoked_at"])
        record(
            "token.revoked",
            actor=Actor.user(membership.user_id),
            workspace_id=membership.workspace_id,
            target=("api_token", token.pk),
            origin=origin,
        )
