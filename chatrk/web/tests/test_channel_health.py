"""Channel health on the Channels page: Meta's values in words, and the re-authorisation banner."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from chatrk.audit.models import AuditEvent
from chatrk.core.roles import Role
from chatrk.crypto.fields import open_for_system
from chatrk.inbox import actions
from chatrk.inbox.models import Channel
from chatrk.testing import add_member, make_channel, make_workspace, signed_in

pytestmark = pytest.mark.django_db

EXPIRED = {"error": {"message": "Session has expired", "type": "OAuthException", "code": 190}}


def graph(status: int, body: object, *, token: str) -> httpx.MockTransport:
    """Meta's answer, given only when asked with ``token`` (so the check uses the new one)."""

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {token}"
        return httpx.Response(status, content=json.dumps(body).encode())

    return httpx.MockTransport(answer)


def healthy(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.phone_number_id, "quality_rating": "GREEN", "throughput": {"level": "STANDARD"},
        "whatsapp_business_manager_messaging_limit": "TIER_1K", "status": "CONNECTED",
    }  # fmt: skip


def test_the_page_explains_quality_tier_throughput_and_last_check() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    channel = make_channel(owner)
    actions.update_channel_health(
        channel, quality_rating="RED", messaging_tier="TIER_1K", throughput_level="HIGH"
    )
    body = signed_in(owner.user).get(f"/w/{owner.workspace.slug}/channels/").content.decode()
    assert "Low (red)" in body and "1,000 customers / 24 h" in body and "High: 1,000 messages/s" in body
    assert "never" in body and "needs re-authorisation" not in body


def test_a_rejected_token_shows_the_banner_and_a_new_token_reauthorises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    channel = actions.update_channel_health(make_channel(owner), health=Channel.Health.REAUTHORISE)
    client = signed_in(owner.user)
    page = client.get(f"/w/{owner.workspace.slug}/channels/").content.decode()
    assert "Support needs re-authorisation" in page and 'role="alert"' in page
    real = actions.check_channel_health
    monkeypatch.setattr(
        actions,
        "check_channel_health",
        lambda c, **kw: real(c, **kw, transport=graph(200, healthy(c), token="EAAG-new")),
    )
    done = client.post(
        f"/w/{owner.workspace.slug}/channels/{channel.pk}/token/", {"access_token": " EAAG-new "}
    )
    channel.refresh_from_db()
    assert done.status_code == 200 and "is re-authorised" in done.content.decode()
    assert (
        channel.health == Channel.Health.CONNECTED and open_for_system(channel, "access_token") == "EAAG-new"
    )
    assert channel.quality_rating == "GREEN" and channel.health_checked_at is not None
    assert AuditEvent.objects.filter(action="channel.token_replaced").count() == 1
    assert "EAAG-new" not in done.content.decode()


def test_a_token_meta_also_refuses_keeps_the_banner(monkeypatch: pytest.MonkeyPatch) -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    channel = actions.update_channel_health(make_channel(owner), health=Channel.Health.REAUTHORISE)
    real = actions.check_channel_health
    monkeypatch.setattr(
        actions,
        "check_channel_health",
        lambda c, **kw: real(c, **kw, transport=graph(401, EXPIRED, token="bad")),
    )
    response = signed_in(owner.user).post(
        f"/w/{owner.workspace.slug}/channels/{channel.pk}/token/", {"access_token": "bad"}
    )
    body = response.content.decode()
    assert "refused this token too" in body and "needs re-authorisation" in body
    channel.refresh_from_db()
    assert channel.health == Channel.Health.REAUTHORISE


def test_an_empty_token_is_refused_and_agents_cannot_replace_one() -> None:
    owner = add_member(make_workspace(), role=Role.OWNER)
    channel = actions.update_channel_health(make_channel(owner), health=Channel.Health.REAUTHORISE)
    url = f"/w/{owner.workspace.slug}/channels/{channel.pk}/token/"
    assert signed_in(owner.user).post(url, {"access_token": "  "}).status_code == 400
    agent = add_member(owner.workspace, role=Role.AGENT)
    assert signed_in(agent.user).post(url, {"access_token": "EAAG-x"}).status_code == 403
    channel.refresh_from_db()
    assert open_for_system(channel, "access_token") != "EAAG-x"
    assert not AuditEvent.objects.filter(action="channel.token_replaced").exists()
