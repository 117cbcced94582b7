"""Test builders for every app: people, workspaces and signed-in clients, made as Chatrk makes them."""

from __future__ import annotations

import itertools
from datetime import datetime

from django.test import Client

from chatrk.accounts import actions, sessions, totp
from chatrk.accounts.models import TotpDevice, User
from chatrk.audit.actions import Origin
from chatrk.core.clock import now
from chatrk.core.models import Membership, Workspace
from chatrk.core.roles import Role
from chatrk.crypto.system import unseal
from chatrk.inbox.models import Channel, Conversation, Message

PASSWORD = "correct horse battery staple"  # noqa: S105 (the test users' password)
_serial = itertools.count(1)


def make_user(*, name: str = "Ada Lovelace", email: str = "", with_totp: bool = True) -> User:
    n = next(_serial)
    user = actions.new_user(email or f"person{n}@example.org", name, PASSWORD)
    user.save()
    if with_totp:
        enrol_totp(user)
    return user


def enrol_totp(user: User) -> None:
    actions.enrolment_seed(user)
    seed = _seed(user, pending=True)
    assert (
        actions.confirm_enrolment(user, totp.code_at(seed, totp.step_of(now())), origin=Origin()) is not None
    )


def _seed(user: User, *, pending: bool = False) -> bytes:
    device = TotpDevice.objects.get(user=user)
    sealed = device.pending_seed if pending else device.sealed_seed
    assert sealed is not None
    return unseal(bytes(sealed), context=f"{actions.TOTP_CONTEXT}|{user.pk}")


def next_code(user: User, at: datetime | None = None) -> str:
    """A code the user's app would show now that has not been used yet (the next step if needed)."""
    device = TotpDevice.objects.get(user=user)
    step = max(totp.step_of(at or now()), device.last_step + 1)
    return totp.code_at(_seed(user), step)


def make_workspace(name: str = "Acme Shoes") -> Workspace:
    n = next(_serial)
    return Workspace.objects.create(name=f"{name} {n}", slug=f"ws-{n}", created_at=now())


def add_member(workspace: Workspace, user: User | None = None, role: Role = Role.AGENT) -> Membership:
    return Membership.objects.create(
        workspace=workspace, user=user or make_user(), role=role, created_at=now()
    )


def signed_in(user: User, client: Client | None = None) -> Client:
    """A client with a full session, as after password and second factor."""
    client = client or Client()
    client.force_login(user)
    session = client.session
    moment = now().isoformat()
    session.update({sessions.AUTH_AT: moment, sessions.SEEN_AT: moment, sessions.REAUTH_AT: moment})
    session.save()
    return client


# --- the cross-workspace walk ----------------------------------------------------------------------

WORKSPACE_PREFIX = "w/<slug:ws>/"


def all_routes() -> list[tuple[str, str]]:
    """Every (route pattern, url name) the site answers, the API's included."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: list[tuple[str, str]] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str, namespace: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, prefix + str(entry.pattern), inner)
            else:
                found.append((prefix + str(entry.pattern), f"{namespace}{entry.name or ''}"))

    walk(get_resolver().url_patterns, "", "")
    return found


def fill(pattern: str, values: dict[str, str]) -> str:
    """Puts values into a route pattern's <converter:name> slots; an unknown slot is an error."""
    import re

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise LookupError(f"no victim object for <{name}> in {pattern!r}: add one to the walk")
        return values[name]

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, pattern)


# --- the inbox -------------------------------------------------------------------------------------


def make_channel(
    owner: Membership, *, phone_number_id: str = "", graph_url: str = "https://graph.facebook.com"
) -> Channel:
    from chatrk.inbox.actions import ChannelSettings, connect_channel

    spec = ChannelSettings(
        name="Support",
        phone_number_id=phone_number_id or str(106540352242900 + next(_serial)),
        waba_id="102290129340398",
        display_phone_number="+1 555 078 3881",
        access_token="EAAG-test-token",  # noqa: S106 (a test channel's fake credentials)
        app_secret="test-app-secret",  # noqa: S106
        graph_url=graph_url,
    )
    return connect_channel(owner, spec, origin=Origin())


def make_conversation(channel: Channel, wa_id: str = "", *, name: str | None = None) -> Conversation:
    from chatrk.inbox.actions import contact_for, conversation_for

    contact = contact_for(channel.workspace_id, wa_id or f"1650555{next(_serial):04d}", profile_name=name)
    return conversation_for(channel, contact)


def make_message(
    conversation: Conversation, body: str, *, direction: str = "in", at: datetime | None = None
) -> Message:
    moment = at or now()
    message = Message(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        contact_id=conversation.contact_id,
        channel_id=conversation.channel_id,
        direction=direction,
        kind="text",
        wamid=f"wamid.test{next(_serial)}",
        status=Message.Status.RECEIVED if direction == "in" else Message.Status.SENT,
        sent_at=moment,
        created_at=moment,
    )
    message.body = body
    message.save()
    return message
