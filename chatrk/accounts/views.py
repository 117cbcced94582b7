"""Sign-in, two-factor enrolment, re-authentication and the account security pages (transport only)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chatrk.accounts import actions, devices, forms, totp
from chatrk.accounts.errors import AccountError
from chatrk.accounts.models import Passkey, User, UserSession
from chatrk.audit.actions import Actor, keyed_hash, record
from chatrk.core import actions as tenancy
from chatrk.core.clock import now
from chatrk.core.errors import TenancyError, UserError
from chatrk.core.queries import memberships_of

PENDING_USER = "chatrk.pending_user"
PENDING_AT = "chatrk.pending_at"
NEXT = "chatrk.next"
SETUP_SECRET = "chatrk.setup_secret"  # noqa: S105 (a session key name)
INVITE_SECRET = "chatrk.invite_secret"  # noqa: S105 (a session key name)
RESET_SECRET = "chatrk.reset_secret"  # noqa: S105 (a session key name)
PENDING_TTL = timedelta(minutes=10)

type View = Callable[..., HttpResponse]


# --- helpers ---------------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.GET.get("next") or request.session.get(NEXT) or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=False
    ):
        return str(target)
    return fallback


def _home(user: User) -> str:
    first = memberships_of(user.pk).first()
    return reverse("web:inbox", args=[first.workspace.slug]) if first else reverse("accounts:security")


def _begin_pending(request: HttpRequest, user: User) -> None:
    """Password proven, second factor not yet: nothing of any workspace is reachable in this state."""
    request.session.cycle_key()
    request.session[PENDING_USER] = user.pk
    request.session[PENDING_AT] = now().isoformat()


def _pending_user(request: HttpRequest) -> User | None:
    user_id, started = request.session.get(PENDING_USER), request.session.get(PENDING_AT)
    if not user_id or not started or now() - datetime.fromisoformat(started) > PENDING_TTL:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


def _finish_sign_in(
    request: HttpRequest, user: User, factor: str, response: HttpResponse | None = None
) -> HttpResponse:
    target = _safe_next(request, _home(user))
    for key in (PENDING_USER, PENDING_AT, NEXT):
        request.session.pop(key, None)
    actions.sign_in(request, user, factor=factor)
    response = response or redirect(target)
    devices.remember_device(response, user.pk)
    return response


def _add_errors(form: Form, error: UserError | ValidationError) -> None:
    if isinstance(error, ValidationError):
        form.add_error("password" if "password" in form.fields else None, error)
    else:
        form.add_error(error.field if error.field in form.fields else None, error.message)


def _too_many(request: HttpRequest, seconds: int, template: str, context: dict[str, Any]) -> HttpResponse:
    minutes = max(1, round(seconds / 60))
    context["throttled"] = (
        f"Too many attempts. Wait {seconds} seconds"
        if seconds < 90
        else (f"Too many attempts. Wait about {minutes} minutes")
    )
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(seconds)
    return response


def recent_auth_required(view: View) -> View:
    """Sensitive changes need the password and a second factor again, within the last few minutes."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not actions.recently_authenticated(request):
            back = request.path if request.method == "GET" else request.headers.get("Referer", request.path)
            return redirect(f"{reverse('accounts:reauth')}?next={back}")
        return view(request, *args, **kwargs)

    return wrapper


# --- signing in ------------------------------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_home(_user(request)))
    return redirect("accounts:login")


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_home(_user(request)))
    form = forms.LoginForm(request.POST or None)
    context: dict[str, Any] = {"form": form, "expired": request.GET.get("expired", "")}
    if request.method == "POST" and form.is_valid():
        device_user, device_id = devices.device_of(request)
        attempt = actions.check_password_step(
            form.cleaned_data["email"],
            form.cleaned_data["password"],
            origin=actions.origin_of(request),
            device_user_id=device_user,
            device_id=device_id,
        )
        if attempt.retry_after:
            return _too_many(request, attempt.retry_after, "accounts/login.html", context)
        if attempt.user is None:
            form.add_error(None, "That e-mail address and password do not match an account.")
        else:
            next_url = request.GET.get("next")
            _begin_pending(request, attempt.user)
            if next_url:
                request.session[NEXT] = next_url
            has_factor = actions.has_second_factor(attempt.user)
            return redirect("accounts:verify" if has_factor else "accounts:enrol")
    return render(request, "accounts/login.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def verify_view(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        return redirect(f"{reverse('accounts:login')}?expired=pending")
    if request.method == "POST" and "credential" in request.POST:
        return _verify_with_passkey(request, user)
    form = forms.CodeForm(request.POST or None)
    context = {"form": form, "has_passkey": user.passkeys.exists()}
    if request.method == "POST" and form.is_valid():
        factor, wait = actions.check_second_factor(
            user, form.cleaned_data["code"], origin=actions.origin_of(request)
        )
        if wait:
            return _too_many(request, wait, "accounts/verify.html", context)
        if factor:
            return _finish_sign_in(request, user, factor)
        form.add_error("code", "That code is not valid. Codes change every 30 seconds and work once.")
    return render(request, "accounts/verify.html", context, status=400 if form.errors else 200)


def _verify_with_passkey(request: HttpRequest, user: User) -> HttpResponse:
    context: dict[str, Any] = {"form": forms.CodeForm(), "has_passkey": True}
    factor, wait = actions.check_passkey(
        user,
        request.POST.get("credential", ""),
        session_key=request.session.session_key,
        origin=actions.origin_of(request),
    )
    if wait:
        return _too_many(request, wait, "accounts/verify.html", context)
    if factor:
        return _finish_sign_in(request, user, factor)
    context["passkey_error"] = "The passkey was not accepted. Try again, or enter a code instead."
    return render(request, "accounts/verify.html", context, status=400)


def _passkey_options(request: HttpRequest, user: User | None, begin: Callable[..., str]) -> HttpResponse:
    """WebAuthn options as JSON for passkeys.js, or an error it shows as it is."""
    if user is None:
        return JsonResponse(
            {"error": "Your sign-in has expired. Start again with your password."}, status=403
        )
    try:
        options = begin(user, session_key=request.session.session_key)
    except AccountError as error:
        return JsonResponse({"error": error.message}, status=409)
    return HttpResponse(options, content_type="application/json")


@require_POST
def passkey_sign_in_options_view(request: HttpRequest) -> HttpResponse:
    """The request options for the user between the password and the second factor."""
    return _passkey_options(request, _pending_user(request), actions.begin_passkey_sign_in)


@require_http_methods(["GET", "POST"])
def enrol_view(request: HttpRequest) -> HttpResponse:
    """TOTP enrolment: for a user finishing sign-in, or a signed-in user re-enrolling after re-auth."""
    signed_in = request.user.is_authenticated
    if signed_in and not actions.recently_authenticated(request):
        return redirect(f"{reverse('accounts:reauth')}?next={request.path}")
    user = _user(request) if signed_in else _pending_user(request)
    if user is None:
        return redirect(f"{reverse('accounts:login')}?expired=pending")
    if not signed_in and actions.has_second_factor(user):
        return redirect("accounts:verify")  # an enrolled factor is replaced only after re-authentication
    seed = actions.enrolment_seed(user)
    form = forms.EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = actions.confirm_enrolment(user, form.cleaned_data["code"], origin=actions.origin_of(request))
        if codes is not None:
            if signed_in:
                ended = actions.end_other_sessions(user, keep=request.session.session_key)
                return render(request, "accounts/enrolled.html", {"sessions_ended": ended})
            # Shown once, in this response; never stored in clear.
            page = render(
                request,
                "accounts/recovery_codes.html",
                {"codes": codes, "next": _safe_next(request, _home(user))},
            )
            return _finish_sign_in(request, user, "totp", page)
        form.add_error("code", "That code does not match. Check the phone's clock and try the newest code.")
    uri = totp.provisioning_uri(seed, user.email)
    context = {
        "form": form,
        "qr": totp.qr_svg(uri),
        "seed_text": totp.seed_text(seed),
        "signed_in": signed_in,
    }
    return render(request, "accounts/enrol.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@login_required
def reauth_view(request: HttpRequest) -> HttpResponse:
    with_passkey = request.method == "POST" and "credential" in request.POST
    form = forms.ReauthForm(None if with_passkey else request.POST or None)
    passkey_form = forms.ReauthPasskeyForm(request.POST if with_passkey else None)
    has_passkey = _user(request).passkeys.exists()
    context = {"form": form, "passkey_form": passkey_form, "has_passkey": has_passkey}
    bound = passkey_form if with_passkey else form
    if request.method == "POST" and bound.is_valid():
        data = bound.cleaned_data
        ok, wait = actions.reauthenticate(
            request,
            _user(request),
            data["password"],
            data.get("code", ""),
            passkey=data.get("credential", ""),
        )
        if wait:
            return _too_many(request, wait, "accounts/reauth.html", context)
        if ok:
            return redirect(_safe_next(request, reverse("accounts:security")))
        wrong = "passkey was not accepted" if with_passkey else "code is not correct"
        bound.add_error(None, f"The password is not correct, or the {wrong}.")
    return render(request, "accounts/reauth.html", context, status=400 if bound.errors else 200)


@require_POST
@login_required
def reauth_passkey_options_view(request: HttpRequest) -> HttpResponse:
    return _passkey_options(request, _user(request), actions.begin_passkey_sign_in)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        record(
            "authn.logout",
            actor=Actor.user(request.user.pk),
            target=("user", request.user.pk),
            origin=actions.origin_of(request),
        )
    logout(request)
    response = redirect("accounts:login")
    response["Clear-Site-Data"] = '"cache", "storage"'
    return response


# --- account security ------------------------------------------------------------------------------


def public_session_id(session_key: str) -> str:
    """Sessions are named by an HMAC of their key: the key itself never appears in a page or URL."""
    return keyed_hash(session_key, purpose="session-id")[:20]


@require_GET
@login_required
def security_view(request: HttpRequest) -> HttpResponse:
    user, current = _user(request), request.session.session_key
    rows = UserSession.objects.filter(user=user, expire_date__gt=now()).order_by("-last_seen_at")
    listed = [
        {"id": public_session_id(s.session_key), "current": s.session_key == current, "row": s} for s in rows
    ]
    codes_left = user.recovery_codes.filter(used_at__isnull=True).count()
    context = {
        "sessions": listed,
        "codes_left": codes_left,
        "passkeys": Passkey.objects.filter(user=user).order_by("created_at"),
    }
    return render(request, "accounts/security.html", context)


@require_POST
@login_required
def revoke_session_view(request: HttpRequest, session_id: str) -> HttpResponse:
    user = _user(request)
    for row in UserSession.objects.filter(user=user).only("session_key"):
        if public_session_id(row.session_key) == session_id:
            actions.revoke_session(request, user, row.session_key)
            break
    if request.headers.get("HX-Request"):
        return HttpResponse("")  # htmx removes the row in place
    return redirect("accounts:security")


@require_POST
@login_required
def revoke_other_sessions_view(request: HttpRequest) -> HttpResponse:
    actions.revoke_other_sessions(request, _user(request))
    return redirect("accounts:security")


@require_http_methods(["GET", "POST"])
@recent_auth_required
def password_view(request: HttpRequest) -> HttpResponse:
    form = forms.PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.change_password(
                request,
                _user(request),
                form.cleaned_data["current_password"],
                form.cleaned_data["new_password"],
            )
        except ValidationError as error:
            form.add_error("new_password", error)
        except AccountError as error:
            _add_errors(form, error)
        else:
            return render(
                request,
                "accounts/done.html",
                {"message": "Your password was changed. Your other sessions were signed out."},
            )
    return render(request, "accounts/password.html", {"form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@recent_auth_required
def email_view(request: HttpRequest) -> HttpResponse:
    form = forms.EmailChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.change_email(request, _user(request), form.cleaned_data["email"])
        except AccountError as error:
            _add_errors(form, error)
        else:
            return render(request, "accounts/done.html", {"message": "Your e-mail address was changed."})
    return render(request, "accounts/email.html", {"form": form}, status=400 if form.errors else 200)


@require_POST
@recent_auth_required
def recovery_codes_view(request: HttpRequest) -> HttpResponse:
    codes = actions.replace_recovery_codes(_user(request), origin=actions.origin_of(request))
    return render(
        request, "accounts/recovery_codes.html", {"codes": codes, "next": reverse("accounts:security")}
    )


def _add_passkey(request: HttpRequest, user: User, form: forms.PasskeyAddForm) -> bool:
    try:
        actions.register_passkey(
            request,
            user,
            name=form.cleaned_data["name"],
            response=form.cleaned_data["credential"],
            origin=actions.origin_of(request),
        )
    except AccountError as error:
        _add_errors(form, error)
        return False
    return True


@require_http_methods(["GET", "POST"])
@recent_auth_required
def passkey_add_view(request: HttpRequest) -> HttpResponse:
    form = forms.PasskeyAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and _add_passkey(request, _user(request), form):
        return redirect("accounts:security")
    context = {
        "form": form,
        "options_url": reverse("accounts:passkey_register_options"),
        "cancel_url": reverse("accounts:security"),
    }
    return render(request, "accounts/passkey_add.html", context, status=400 if form.errors else 200)


def _enrolling_user(request: HttpRequest) -> User | None:
    """The user finishing sign-in who has no second factor yet (first run, invitation)."""
    user = _pending_user(request)
    return user if user is not None and not actions.has_second_factor(user) else None


@require_http_methods(["GET", "POST"])
def passkey_enrol_view(request: HttpRequest) -> HttpResponse:
    """A passkey as the first second factor, instead of the authenticator app; recovery codes follow."""
    user = _enrolling_user(request)
    if user is None:
        return redirect(f"{reverse('accounts:login')}?expired=pending")
    form = forms.PasskeyAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and _add_passkey(request, user, form):
        codes = actions.replace_recovery_codes(user, origin=actions.origin_of(request))
        page = render(
            request,
            "accounts/recovery_codes.html",
            {"codes": codes, "next": _safe_next(request, _home(user))},
        )
        return _finish_sign_in(request, user, "passkey", page)
    context = {
        "form": form,
        "enrolling": True,
        "options_url": reverse("accounts:passkey_enrol_options"),
        "cancel_url": reverse("accounts:enrol"),
    }
    return render(request, "accounts/passkey_add.html", context, status=400 if form.errors else 200)


@require_POST
def passkey_enrol_options_view(request: HttpRequest) -> HttpResponse:
    return _passkey_options(request, _enrolling_user(request), actions.begin_passkey_registration)


@require_POST
@login_required
def passkey_register_options_view(request: HttpRequest) -> HttpResponse:
    """The WebAuthn creation options; like the page that asks for them, only after re-authentication."""
    if not actions.recently_authenticated(request):
        return JsonResponse({"error": "Confirm it is you again: reload this page."}, status=403)
    return _passkey_options(request, _user(request), actions.begin_passkey_registration)


@require_POST
@recent_auth_required
def passkey_remove_view(request: HttpRequest, passkey_id: int) -> HttpResponse:
    try:
        removed = actions.remove_passkey(
            request, _user(request), passkey_id, origin=actions.origin_of(request)
        )
    except AccountError as error:
        return render(
            request, "web/error.html", {"title": "Passkey not removed", "message": error.message}, status=409
        )
    if not removed:
        return render(
            request, "web/error.html", {"title": "Not found", "message": "No such passkey."}, status=404
        )
    return redirect("accounts:security")


# --- first run and invitations ---------------------------------------------------------------------


def stash_secret(key: str, target: str) -> Callable[[HttpRequest, str], HttpResponse]:
    """Moves a link's secret from the URL into the session, so it leaves no trace in history or Referer."""

    @require_GET
    def view(request: HttpRequest, secret: str) -> HttpResponse:
        request.session[key] = secret
        return redirect(target)

    return view


@require_http_methods(["GET", "POST"])
def setup_view(request: HttpRequest) -> HttpResponse:
    secret = request.session.get(SETUP_SECRET, "")
    if not secret or actions.valid_setup_link(secret) is None:
        return render(
            request,
            "web/error.html",
            {
                "title": "Setup link not valid",
                "message": "This setup link has expired or was already used. "
                "Run `chatrk setuplink` for a new one.",
            },
            status=404,
        )
    form = forms.SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = actions.new_user(
                data["email"], data["name"], data["password"], context=[data["workspace_name"]]
            )
            actions.complete_setup(
                secret,
                workspace_name=data["workspace_name"],
                slug=form.slug(),
                user=user,
                origin=actions.origin_of(request),
            )
        except (ValidationError, AccountError) as error:
            _add_errors(form, error)
        else:
            request.session.pop(SETUP_SECRET, None)
            _begin_pending(request, user)
            return redirect("accounts:enrol")
    return render(request, "accounts/setup.html", {"form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def invitation_view(request: HttpRequest) -> HttpResponse:
    secret = request.session.get(INVITE_SECRET, "")
    invitation = tenancy.usable_invitation(secret) if secret else None
    if invitation is None:
        return render(
            request,
            "web/error.html",
            {
                "title": "Invitation not valid",
                "message": "This invitation has expired, was revoked or was already used. Ask for a new one.",
            },
            status=404,
        )
    origin = actions.origin_of(request)
    if request.user.is_authenticated:
        return _accept_signed_in(request, secret, invitation.workspace.slug)
    existing = User.objects.filter(email__iexact=invitation.email).exists()
    form = forms.NewAccountForm(request.POST or None)
    context = {"invitation": invitation, "existing": existing, "form": form}
    if request.method == "POST" and not existing and form.is_valid():
        try:
            user = actions.new_user(
                invitation.email,
                form.cleaned_data["name"],
                form.cleaned_data["password"],
                context=[invitation.workspace.name],
            )
            user.save()
            tenancy.accept_invitation(secret, user_id=user.pk, email=user.email, origin=origin)
        except (ValidationError, AccountError, TenancyError) as error:
            _add_errors(form, error)
        else:
            request.session.pop(INVITE_SECRET, None)
            _begin_pending(request, user)
            return redirect("accounts:enrol")
    return render(request, "accounts/invitation.html", context, status=400 if form.errors else 200)


def _accept_signed_in(request: HttpRequest, secret: str, slug: str) -> HttpResponse:
    user = _user(request)
    try:
        tenancy.accept_invitation(
            secret, user_id=user.pk, email=user.email, origin=actions.origin_of(request)
        )
    except TenancyError as error:
        return render(
            request,
            "web/error.html",
            {"title": "Invitation not accepted", "message": error.message},
            status=403,
        )
    request.session.pop(INVITE_SECRET, None)
    return redirect("web:inbox", slug)


@require_http_methods(["GET", "POST"])
def password_reset_view(request: HttpRequest) -> HttpResponse:
    """A new password from an admin's one-time link, together with the account's second factor."""
    secret = request.session.get(RESET_SECRET, "")
    reset = actions.usable_password_reset(secret) if secret else None
    if reset is None:
        invalid = {"title": "Reset link not valid", "message": "This link has expired or was already used."}
        return render(request, "web/error.html", invalid, status=404)
    form = forms.PasswordResetForm(request.POST or None)
    context: dict[str, Any] = {"form": form}
    if request.method == "POST" and form.is_valid():
        try:
            user, wait = actions.reset_password(
                secret,
                password=form.cleaned_data["new_password"],
                code=form.cleaned_data["code"],
                origin=actions.origin_of(request),
            )
        except ValidationError as error:
            form.add_error("new_password", error)
        except AccountError as error:
            _add_errors(form, error)
        else:
            if wait:
                return _too_many(request, wait, "accounts/password_reset.html", context)
            if user is None:
                form.add_error("code", "That code is not valid. Codes change every 30 seconds and work once.")
            else:
                request.session.pop(RESET_SECRET, None)
                message = "Your password was changed and every session was signed out. Sign in with it now."
                return render(request, "accounts/done.html", {"message": message, "sign_in": True})
    return render(request, "accounts/password_reset.html", context, status=400 if form.errors else 200)
