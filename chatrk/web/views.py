"""Workspace pages: live updates, channels, members and invitations, API tokens
(transport only)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.forms import ChoiceField, Form
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from chatrk.accounts import actions as accounts
from chatrk.accounts.errors import AccountError
from chatrk.accounts.forms import InviteForm, RoleForm, TokenForm
from chatrk.accounts.models import ApiToken
from chatrk.accounts.scopes import Scope
from chatrk.accounts.views import recent_auth_required
from chatrk.audit.actions import Actor
from chatrk.core import actions as tenancy
from chatrk.core import queries
from chatrk.core.errors import TenancyError
from chatrk.core.models import Membership
from chatrk.core.roles import Perm, Role, assignable_roles, role_allows
from chatrk.crypto.fields import open_for_system
from chatrk.inbox import actions as inbox_actions
from chatrk.inbox import live as live_events
from chatrk.inbox import queries as inbox_queries
from chatrk.inbox.errors import InboxError
from chatrk.inbox.models import Channel
from chatrk.web.access import membership, workspace_page
from chatrk.web.forms import ChannelForm, TokenReplaceForm


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    context = {"title": "The form expired", "message": "Go back, reload the page and try again."}
    return render(request, "web/error.html", context, status=403)


def _set_choices(form: Form, name: str, choices: list[tuple[str, str]]) -> None:
    field = form.fields[name]
    assert isinstance(field, ChoiceField)
    field.choices = choices


def _back_to(request: HttpRequest, name: str) -> HttpResponse:
    return redirect(f"web:{name}", membership(request).workspace.slug)


# --- members ---------------------------------------------------------------------------------------


def _members_page(request: HttpRequest, form: InviteForm | None = None, **extra: Any) -> HttpResponse:
    me = membership(request)
    can_manage = role_allows(me.role, Perm.MANAGE_MEMBERS)
    roles = assignable_roles(me.role)
    if form is None:
        form = InviteForm()
    _set_choices(form, "role", [(r.value, r.label) for r in roles])
    context = {
        "members": queries.members(me.workspace_id),
        "invitations": queries.open_invitations(me.workspace_id) if can_manage else [],
        "can_manage": can_manage,
        "can_manage_owners": role_allows(me.role, Perm.MANAGE_OWNERS),
        "form": form,
        "roles": roles,
        **extra,
    }
    return render(request, "web/members.html", context, status=400 if form.errors else 200)


@workspace_page(Perm.VIEW_MEMBERS)
@require_GET
def members(request: HttpRequest) -> HttpResponse:
    return _members_page(request)


@workspace_page(Perm.MANAGE_MEMBERS)
@require_POST
def invite(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    _set_choices(form, "role", Role.choices)
    if form.is_valid():
        try:
            _, secret = tenancy.invite(
                membership(request),
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                origin=accounts.origin_of(request),
            )
        except TenancyError as error:
            form.add_error(error.field, error.message)
        else:
            link = f"{settings.PUBLIC_URL}/invite/{secret}"
            return _members_page(request, invitation_link=link, invited=form.cleaned_data["email"])
    return _members_page(request, form)


def _member(request: HttpRequest, member_id: int) -> Membership:
    found = queries.members(membership(request).workspace_id).filter(pk=member_id).first()
    if found is None:
        raise Http404("No such member")
    return found


@workspace_page(Perm.MANAGE_MEMBERS)
@require_POST
@recent_auth_required
def change_role(request: HttpRequest, member_id: int) -> HttpResponse:
    form = RoleForm(request.POST)
    member = _member(request, member_id)
    if not form.is_valid():
        return _members_page(request, error="Choose a role from the list.")
    try:
        tenancy.change_role(
            membership(request), member, form.cleaned_data["role"], origin=accounts.origin_of(request)
        )
    except TenancyError as error:
        return _members_page(request, error=error.message)
    return _back_to(request, "members")


@workspace_page(Perm.MANAGE_MEMBERS)
@require_POST
@recent_auth_required
def remove_member(request: HttpRequest, member_id: int) -> HttpResponse:
    me, member = membership(request), _member(request, member_id)
    try:
        tenancy.remove_member(me, member, origin=accounts.origin_of(request))
    except TenancyError as error:
        return _members_page(request, error=error.message)
    if member.user_id == me.user_id:
        logout(request)
        return redirect("accounts:login")
    return _back_to(request, "members")


@workspace_page(Perm.MANAGE_MEMBERS)
@require_POST
def revoke_member_sessions(request: HttpRequest, member_id: int) -> HttpResponse:
    me, member = membership(request), _member(request, member_id)
    if member.role == Role.OWNER and not role_allows(me.role, Perm.MANAGE_OWNERS):
        return _members_page(request, error="Only an owner can sign out an owner.")
    ended = accounts.revoke_member_sessions(request, me, member)
    return _members_page(request, notice=f"Signed out {ended} session(s) of {member.user.name}.")


@workspace_page(Perm.MANAGE_MEMBERS)
@require_POST
@recent_auth_required
def password_reset_link(request: HttpRequest, member_id: int) -> HttpResponse:
    me, member = membership(request), _member(request, member_id)
    if member.role == Role.OWNER and not role_allows(me.role, Perm.MANAGE_OWNERS):
        return _members_page(request, error="Only an owner can reset an owner's password.")
    link = accounts.issue_password_reset(member.user_id, by=me, origin=accounts.origin_of(request))
    return _members_page(request, reset_link=link, reset_for=member.user.name)


@workspace_page(Perm.MANAGE_MEMBERS)
@require_POST
def revoke_invitation(request: HttpRequest, invitation_id: int) -> HttpResponse:
    me = membership(request)
    invitation = queries.open_invitations(me.workspace_id).filter(pk=invitation_id).first()
    if invitation is None:
        raise Http404("No such invitation")
    tenancy.revoke_invitation(me, invitation, origin=accounts.origin_of(request))
    return _back_to(request, "members")


# --- API tokens ------------------------------------------------------------------------------------


def _tokens_page(request: HttpRequest, form: TokenForm | None = None, **extra: Any) -> HttpResponse:
    me = membership(request)
    form = form or TokenForm()
    _set_choices(form, "scopes", [(s.value, s.value) for s in Scope if s.allowed_for(me.role)])
    rows = (
        ApiToken.objects.for_workspace(me.workspace_id).select_related("created_by").order_by("-created_at")
    )
    context = {"tokens": rows, "form": form, **extra}
    return render(request, "web/tokens.html", context, status=400 if form.errors else 200)


@workspace_page(Perm.MANAGE_TOKENS)
@require_GET
def tokens(request: HttpRequest) -> HttpResponse:
    return _tokens_page(request)


@workspace_page(Perm.MANAGE_TOKENS)
@require_POST
def create_token(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            token, secret = accounts.create_api_token(
                membership(request),
                name=form.cleaned_data["name"],
                scopes=[Scope(s) for s in form.cleaned_data["scopes"]],
                days=form.cleaned_data["days"],
                origin=accounts.origin_of(request),
            )
        except AccountError as error:
            form.add_error(error.field, error.message)
        else:
            return _tokens_page(request, new_secret=secret, new_token=token)
    return _tokens_page(request, form)


@workspace_page(Perm.MANAGE_TOKENS)
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    me = membership(request)
    token = (
        ApiToken.objects.for_workspace(me.workspace_id).filter(pk=token_id, revoked_at__isnull=True).first()
    )
    if token is None:
        raise Http404("No such token")
    accounts.revoke_api_token(me, token, origin=accounts.origin_of(request))
    return _back_to(request, "tokens")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request, "web/error.html", {"title": "Not found", "message": "There is nothing here."}, status=404
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    context = {"title": "Bad request", "message": "The request could not be understood."}
    return render(request, "web/error.html", context, status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    context = {"title": "Something went wrong", "message": "The error was logged. Please try again."}
    return render(request, "web/error.html", context, status=500)


# --- channels (WhatsApp numbers) ------------------------------------------------------------------


def webhook_url(channel: Channel) -> str:
    return f"{settings.PUBLIC_URL}/webhooks/whatsapp/{channel.webhook_key}"


# Meta's values in words: what each rating, tier and throughput level means for sending.
QUALITY_WORDS = {
    "GREEN": "High (green)", "YELLOW": "Medium (yellow): customers are blocking or reporting",
    "RED": "Low (red): the messaging tier may be lowered", "UNKNOWN": "Not rated yet",
}  # fmt: skip
TIER_WORDS = {
    "TIER_50": "50 customers / 24 h", "TIER_250": "250 customers / 24 h", "TIER_1K": "1,000 customers / 24 h",
    "TIER_2K": "2,000 customers / 24 h", "TIER_10K": "10,000 customers / 24 h",
    "TIER_100K": "100,000 customers / 24 h", "TIER_UNLIMITED": "Unlimited", "TIER_NOT_SET": "Not set",
}  # fmt: skip
THROUGHPUT_WORDS = {"STANDARD": "Standard: 80 messages/s", "HIGH": "High: 1,000 messages/s"}


def channel_health_words(channel: Channel) -> dict[str, str]:
    return {
        "quality": QUALITY_WORDS.get(channel.quality_rating, channel.quality_rating or "Not checked"),
        "tier": TIER_WORDS.get(channel.messaging_tier, channel.messaging_tier or "Not checked"),
        "throughput": THROUGHPUT_WORDS.get(channel.throughput_level, channel.throughput_level),
    }


def _channels_page(request: HttpRequest, form: ChannelForm | None = None, **extra: Any) -> HttpResponse:
    me = membership(request)
    form = form or ChannelForm()
    found = list(inbox_queries.channels(me.workspace_id))
    rows = [(channel, webhook_url(channel), channel_health_words(channel)) for channel in found]
    context = {
        "channels": rows,
        "form": form,
        "reauthorise": [c for c in found if c.health == Channel.Health.REAUTHORISE],
        "troubled": [
            c for c in found if c.health in {Channel.Health.RESTRICTED, Channel.Health.DISCONNECTED}
        ],
        "token_form": extra.pop("token_form", None) or TokenReplaceForm(),
        **extra,
    }
    status = 400 if form.errors or context["token_form"].errors else 200
    return render(request, "web/channels.html", context, status=status)


@workspace_page(Perm.MANAGE_WORKSPACE)
@require_GET
def channels(request: HttpRequest) -> HttpResponse:
    return _channels_page(request)


@workspace_page(Perm.MANAGE_WORKSPACE)
@require_POST
@recent_auth_required
def connect_channel(request: HttpRequest) -> HttpResponse:
    form = ChannelForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        spec = inbox_actions.ChannelSettings(
            name=data["name"], phone_number_id=data["phone_number_id"], waba_id=data["waba_id"],
            display_phone_number=data["display_phone_number"], access_token=data["access_token"],
            app_secret=data["app_secret"],
        )  # fmt: skip
        try:
            channel = inbox_actions.connect_channel(
                membership(request), spec, origin=accounts.origin_of(request)
            )
        except InboxError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            verify_token = open_for_system(
                channel, "verify_token"
            )  # shown once, to paste into Meta's dashboard
            return _channels_page(request, connected=channel, verify_token=verify_token)
    return _channels_page(request, form)


@workspace_page(Perm.MANAGE_WORKSPACE)
@require_POST
def check_channel_health(request: HttpRequest, channel_id: int) -> HttpResponse:
    me = membership(request)
    channel = inbox_queries.channel(me.workspace_id, channel_id)
    if channel is None:
        raise Http404("No such channel")
    try:
        checked = inbox_actions.check_channel_health(
            channel, actor=Actor.user(me.user_id), origin=accounts.origin_of(request)
        )
    except InboxError as error:
        return _channels_page(request, error=error.message)
    if checked.health == Channel.Health.REAUTHORISE:
        return _channels_page(
            request, error=f"{checked.name}: Meta refused the access token. Connect it again."
        )
    return _channels_page(request, notice=f"Health of {checked.name} updated.")


@workspace_page(Perm.MANAGE_WORKSPACE)
@require_POST
@recent_auth_required
def replace_channel_token(request: HttpRequest, channel_id: int) -> HttpResponse:
    """The re-authorisation banner's form: a new token, then a health check with it."""
    me = membership(request)
    channel = inbox_queries.channel(me.workspace_id, channel_id)
    if channel is None:
        raise Http404("No such channel")
    form = TokenReplaceForm(request.POST)
    if not form.is_valid():
        return _channels_page(request, token_form=form)
    origin = accounts.origin_of(request)
    try:
        channel = inbox_actions.replace_channel_token(
            me, channel, form.cleaned_data["access_token"], origin=origin
        )
        checked = inbox_actions.check_channel_health(channel, actor=Actor.user(me.user_id), origin=origin)
    except InboxError as error:
        return _channels_page(request, error=f"{channel.name}: token saved, but {error.message}")
    if checked.health == Channel.Health.REAUTHORISE:
        return _channels_page(request, error=f"{checked.name}: Meta refused this token too.")
    return _channels_page(request, notice=f"{checked.name} is re-authorised.")


# --- live updates for the inbox --------------------------------------------------------------------

MAX_WAIT_SECONDS = 20


@workspace_page(Perm.READ_INBOX)
@require_GET
def live(request: HttpRequest) -> HttpResponse:
    """What changed since ``cursor``: 200 with events and the next cursor, or 204 when nothing did.

    Without a cursor, answers at once with the current cursor. ``wait`` (seconds, up to 20) holds the
    request open until something changes: a long poll. Polling does not count as activity for the
    session's idle timeout.
    """
    me = membership(request)
    cursor = request.GET.get("cursor", "")
    if not cursor:
        return JsonResponse({"cursor": live_events.current_mark(me.workspace_id).encode(), "events": []})
    try:
        seen = live_events.Mark.decode(cursor[:200])
        wait = min(max(float(request.GET.get("wait", "0")), 0.0), MAX_WAIT_SECONDS)
    except (live_events.BadCursor, ValueError):
        return JsonResponse({"detail": "Bad cursor or wait."}, status=400)
    if wait != wait:  # NaN
        wait = 0.0
    mark, found = live_events.poll(me.workspace_id, seen, wait=wait)
    if not found:
        return HttpResponse(status=204)
    return JsonResponse({"cursor": mark.encode(), "events": found})
