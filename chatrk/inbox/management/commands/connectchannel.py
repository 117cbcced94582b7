"""``chatrk connect-channel``: connect a WhatsApp number from the server's terminal.

The access token and app secret are read from the environment (``CHATRK_CHANNEL_ACCESS_TOKEN``,
``CHATRK_CHANNEL_APP_SECRET``) or typed at a hidden prompt, never taken as arguments: arguments end up
in shell history and in every user's process list.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatrk.core.models import Workspace
from chatrk.crypto.fields import open_for_system
from chatrk.inbox.actions import ChannelSettings, connect_channel_from_terminal
from chatrk.inbox.errors import InboxError


def _secret(variable: str, prompt: str) -> str:
    value = os.environ.get(variable) or getpass.getpass(prompt)
    if not value.strip():
        raise CommandError(f"{prompt.rstrip(': ')} is needed (or set {variable}).")
    return value.strip()


class Command(BaseCommand):
    help = "Connect a WhatsApp Business number to a workspace; prints the webhook URL and verify token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="the workspace's address (slug)")
        parser.add_argument("--phone-number-id", required=True)
        parser.add_argument("--waba-id", required=True, help="WhatsApp Business Account id")
        parser.add_argument("--display-phone-number", required=True, help="e.g. +1 555 0100")
        parser.add_argument("--name", default="", help="how the team will know the number")
        parser.add_argument("--graph-url", default="https://graph.facebook.com", help="Graph API or emulator")
        parser.add_argument("--api-version", default="v23.0")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError("No workspace has this address.")
        spec = ChannelSettings(
            name=options["name"],
            phone_number_id=options["phone_number_id"],
            waba_id=options["waba_id"],
            display_phone_number=options["display_phone_number"],
            access_token=_secret("CHATRK_CHANNEL_ACCESS_TOKEN", "Access token: "),
            app_secret=_secret("CHATRK_CHANNEL_APP_SECRET", "App secret: "),
            graph_url=options["graph_url"],
            api_version=options["api_version"],
        )
        try:
            channel = connect_channel_from_terminal(workspace.pk, spec)
        except InboxError as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            f"Connected {channel.name}. In Meta's app dashboard (WhatsApp → Configuration) set:\n"
            f"  Callback URL: {settings.PUBLIC_URL}/webhooks/whatsapp/{channel.webhook_key}\n"
            f"  Verify token: {open_for_system(channel, 'verify_token')}\n"
            "and subscribe to the 'messages' field. The verify token is not shown again."
        )
