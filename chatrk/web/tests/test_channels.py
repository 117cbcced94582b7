"""Connecting a WhatsApp number from the Channels page, and its health from the Graph API."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from chatrk.audit.actions import SYSTEM, Origin
from chatrk.audit.models import AuditEvent
from chatrk.core.roles import Role
from chatrk.crypto.fields import open_for_system
from chatrk.inbox import actions
from chatrk.inbox.errors import InboxError
from chatrk.inbox.models import Channel
from chatrk.testing import add_member, make_channel, make_workspace, signed_in

pytestmark = pytest.mark.django_db

FORM = {
    "name": "Support",
    "display_phone_number": "+1 555 0100",
    "phone_number_id": "106540352242922",
    "waba_id": "102290129340398",
    "access_token": "EAAGsecrettoken",
    "app_secret": "appsecretvalue",
}


def test_an_owner_connects_a_number_and_sees_the_verify_token_once() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    client = signed_in(owner.user)
    url = f"/w/{owner.workspace.slug}/channels/"
    response = client.post(f"{url}connect/", FORM)
    assert response.status_code == 200
    page = response.content.decode()
    channel = Channel.objects.get()
    verify = open_for_system(channel, "verify_token")
    assert f'id="verify-token" class="secret" readonly value="{verify}"' in page
    assert f"/webhooks/whatsapp/{channel.webhook_key}" in page
    assert "EAAGsecrettoken" not in page and "appsecretvalue" not in page
    later = client.get(url).content.decode()
    assert verify not in later and f"/webhooks/whatsapp/{channel.webhook_key}" in later
    assert open_for_system(channel, "access_token") == "EAAGsecrettoken"
    assert AuditEvent.objects.filter(action="channel.connected", actor_kind="user").count() == 1


def test_mistakes_are_shown_next_to_their_fields() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    client = signed_in(owner.user)
    response = client.post(f"/w/{owner.workspace.slug}/channels/connect/", {**FORM, "phone_number_id": "abc"})
    assert response.status_code == 400
    assert re.search(r'class="field invalid">\s*<label for="id_phone_number_id"', response.content.decode())
    assert "EAAGsecrettoken" not in response.content.decode()  # a password field is never echoed
    make_channel(owner, phone_number_id="777")
    again = client.post(f"/w/{owner.workspace.slug}/channels/connect/", {**FORM, "phone_number_id": "777"})
    assert again.status_code == 400 and "already connected" in again.content.decode()


def test_only_admins_manage_channels() -> None:
    workspace = make_workspace()
    agent = add_member(workspace, role=Role.AGENT)
    client = signed_in(agent.user)
    assert client.get(f"/w/{workspace.slug}/channels/").status_code == 403
    assert client.post(f"/w/{workspace.slug}/channels/connect/", FORM).status_code == 403
    assert not Channel.objects.exists()


def graph(status: int, body: object) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer EAAG-test-token"
        return httpx.Response(status, content=json.dumps(body).encode())

    return httpx.MockTransport(answer)


def test_health_comes_from_the_graph_api() -> None:
    channel = make_channel(add_member(make_workspace(), role=Role.OWNER))
    info = {
        "id": channel.phone_number_id, "quality_rating": "YELLOW", "throughput": {"level": "HIGH"},
        "whatsapp_business_manager_messaging_limit": "TIER_10K", "status": "CONNECTED",
    }  # fmt: skip
    checked = actions.check_channel_health(channel, actor=SYSTEM, origin=Origin(), transport=graph(200, info))
    assert (checked.quality_rating, checked.throughput_level, checked.messaging_tier) == (
        "YELLOW", "HIGH", "TIER_10K",
    )  # fmt: skip
    assert checked.health == "connected" and checked.health_checked_at is not None


def test_error_190_marks_the_channel_for_reauthorisation() -> None:
    channel = make_channel(add_member(make_workspace(), role=Role.OWNER))
    expired = {"error": {"message": "Session has expired", "type": "OAuthException", "code": 190}}
    checked = actions.check_channel_health(
        channel, actor=SYSTEM, origin=Origin(), transport=graph(401, expired)
    )
    assert checked.health == Channel.Health.REAUTHORISE
    assert AuditEvent.objects.get(action="channel.health_checked").outcome == "failure"


def test_other_failures_keep_the_stored_health() -> None:
    channel = make_channel(add_member(make_workspace(), role=Role.OWNER))
    with pytest.raises(InboxError):
        actions.check_channel_health(channel, actor=SYSTEM, origin=Origin(), transport=graph(503, {}))
    channel.refresh_from_db()
    assert channel.health == "connected" and channel.health_checked_at is not None


def test_the_check_health_button(monkeypatch: pytest.MonkeyPatch) -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    channel = make_channel(owner)
    expired = {"error": {"message": "Session has expired", "type": "OAuthException", "code": 190}}
    real = actions.check_channel_health
    monkeypatch.setattr(
        actions, "check_channel_health", lambda c, **kw: real(c, **kw, transport=graph(401, expired))
    )
    response = signed_in(owner.user).post(f"/w/{owner.workspace.slug}/channels/{channel.pk}/health/")
    assert response.status_code == 200 and "Connect it again" in response.content.decode()
    assert "Re-authorisation needed" in response.content.decode()


def test_health_learnt_from_webhooks_or_sends_changes_only_what_is_given() -> None:
    channel = make_channel(add_member(make_workspace(), role=Role.OWNER))
    updated = actions.update_channel_health(channel, quality_rating="RED", reason="webhook")
    assert (updated.quality_rating, updated.health) == ("RED", "connected")
    actions.update_channel_health(channel, quality_rating="RED")  # no change, no event
    reauth = actions.update_channel_health(channel, health=Channel.Health.REAUTHORISE, reason="send 190")
    assert (reauth.health, reauth.quality_rating) == ("reauthorise", "RED")
    assert AuditEvent.objects.filter(action="channel.health_changed").count() == 2
    with pytest.raises(InboxError):
        actions.update_channel_health(channel, health="sparkling")
