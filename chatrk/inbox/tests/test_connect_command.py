"""``chatrk connect-channel``: secrets from the environment, never from arguments; prints the webhook."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from chatrk.audit.models import AuditEvent
from chatrk.cli import ALIASES
from chatrk.crypto.fields import open_for_system
from chatrk.inbox.models import Channel
from chatrk.testing import make_workspace

pytestmark = pytest.mark.django_db

ARGS = ["--phone-number-id", "106540352242922", "--waba-id", "102290129340398",
        "--display-phone-number", "+1 555 078 3881", "--name", "Support"]  # fmt: skip


def test_a_number_is_connected_from_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = make_workspace()
    monkeypatch.setenv("CHATRK_CHANNEL_ACCESS_TOKEN", "EAAGfromenv")
    monkeypatch.setenv("CHATRK_CHANNEL_APP_SECRET", "secretfromenv")
    out = StringIO()
    call_command(ALIASES["connect-channel"], "--workspace", workspace.slug, *ARGS, stdout=out)
    channel = Channel.objects.get()
    assert open_for_system(channel, "app_secret") == "secretfromenv"
    assert f"/webhooks/whatsapp/{channel.webhook_key}" in out.getvalue()
    assert open_for_system(channel, "verify_token") in out.getvalue()
    assert "EAAGfromenv" not in out.getvalue()
    assert AuditEvent.objects.get(action="channel.connected").actor_kind == "system"


def test_an_unknown_workspace_or_a_second_connection_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATRK_CHANNEL_ACCESS_TOKEN", "EAAGfromenv")
    monkeypatch.setenv("CHATRK_CHANNEL_APP_SECRET", "secretfromenv")
    with pytest.raises(CommandError):
        call_command("connectchannel", "--workspace", "nope", *ARGS)
    workspace = make_workspace()
    call_command("connectchannel", "--workspace", workspace.slug, *ARGS, stdout=StringIO())
    with pytest.raises(CommandError, match="already connected"):
        call_command("connectchannel", "--workspace", workspace.slug, *ARGS)
