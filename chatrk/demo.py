"""``chatrk demo``: web, worker and the WhatsApp Cloud API emulator wired together, customers included.

Nothing here takes a short cut: the emulator is a separate process on its own port, Chatrk's channel
points its Graph API address at it (so replies go out over HTTP like any send), and the emulator posts
customers' messages to Chatrk's webhook signed with the channel's app secret, after Meta's verify-token
handshake. The demo only does what an owner would do by hand: connect a number, paste the webhook
address into "Meta's" dashboard (the emulator's control API), and create an API token.

Order of events: migrate; start the emulator, web and worker; print the one-time setup link while
there is no owner; as soon as a workspace exists (the person running the demo has just created it
through the link), connect the emulator's number to it, point the emulator's webhook at it, issue a
fresh API token and start the scripted customers. Re-running is idempotent: the same channel is
reused, moved to the emulator's new port, and a new token replaces the previous demo token.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
DISPLAY_PHONE_NUMBER = "15550783881"
TOKEN_NAME = "chatrk demo"  # noqa: S105 (the API token's display name)
WAIT_FOR_WORKSPACE_SECONDS = 2.0

type Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DemoSecrets:
    """The emulated number's credentials: random per installation, kept in the var directory (0600)."""

    access_token: str
    app_secret: str

    @classmethod
    def load(cls, var_dir: Path) -> DemoSecrets:
        from chatrk.config import load_or_create_secret

        return cls(
            access_token=load_or_create_secret(var_dir / "demo_access_token", nbytes=32),
            app_secret=load_or_create_secret(var_dir / "demo_app_secret", nbytes=32),
        )


def emulator_config(secrets: DemoSecrets) -> dict[str, Any]:
    """One account with one number; the webhook is set once Chatrk's channel (and its key) exists."""
    return {
        "behaviour": {"time_scale": 1.0, "seed": 7, "delivered_after": 1.0, "read_after": 4.0},
        "accounts": [
            {
                "waba_id": WABA_ID,
                "access_tokens": [secrets.access_token],
                "app_secret": secrets.app_secret,
                "messaging_tier": "TIER_1K",
                "phone_numbers": [
                    {
                        "id": PHONE_NUMBER_ID,
                        "display_phone_number": DISPLAY_PHONE_NUMBER,
                        "verified_name": "Demo Shop",
                        "quality": "GREEN",
                    }
                ],
            }
        ],
    }


def customers_scenario() -> dict[str, Any]:
    """Customers who write in over the first minutes, then now and then for half an hour."""
    people = [
        {"wa_id": "447700900101", "name": "Amelia Hart"},
        {"wa_id": "5511987650202", "name": "Bruno Costa"},
        {"wa_id": "4915112340303", "name": "Clara Weiss"},
        {"wa_id": "16505550404", "name": "Dev Patel"},
    ]
    script = [
        (3, 0, "Hi! I ordered a pair of trail shoes on Monday. Any news on delivery?"),
        (10, 1, "Olá, do you ship to Brazil?"),
        (20, 2, "Hello, can I still change the size of my order? 38 instead of 39."),
        (35, 0, "The order number is 10482, if that helps."),
        (50, 3, "Hey, the left shoe has a scratch on it. Can I return it?"),
        (75, 1, "And how long does shipping take?"),
        (110, 2, "Thanks!"),
    ]
    steps = [{"at": at, "customer": who, "kind": "text", "body": body} for at, who, body in script]
    return {
        "seed": 7,
        "phone_number_id": PHONE_NUMBER_ID,
        "customers": people,
        "generate_customers": 6,
        "steps": steps,
        "random": {"count": 30, "span": 1800, "kinds": ["text", "text", "text", "image", "location"]},
    }


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def webhook_url(public_url: str, webhook_key: str) -> str:
    return f"{public_url.rstrip('/')}/webhooks/whatsapp/{webhook_key}"


# --- wiring (needs Django set up) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wired:
    workspace_slug: str
    channel_id: int
    webhook_url: str
    verify_token: str
    api_token: str


def wire(secrets: DemoSecrets, *, graph_url: str, public_url: str) -> Wired | None:
    """Connects (or re-points) the demo number in the oldest workspace and issues a demo API token.

    None while no workspace exists yet.
    """
    from chatrk.accounts.actions import create_api_token, revoke_api_token
    from chatrk.accounts.models import ApiToken
    from chatrk.accounts.scopes import Scope
    from chatrk.audit.actions import SYSTEM, Origin
    from chatrk.core.models import Membership, Workspace
    from chatrk.core.roles import Role
    from chatrk.crypto.fields import open_for_system
    from chatrk.inbox import actions
    from chatrk.inbox.models import Channel

    channel = Channel.objects.filter(phone_number_id=PHONE_NUMBER_ID).first()
    if channel is None:
        workspace = Workspace.objects.order_by("pk").first()
        if workspace is None:
            return None
        spec = actions.ChannelSettings(
            name="Demo number (emulator)",
            phone_number_id=PHONE_NUMBER_ID,
            waba_id=WABA_ID,
            display_phone_number=f"+{DISPLAY_PHONE_NUMBER}",
            access_token=secrets.access_token,
            app_secret=secrets.app_secret,
            graph_url=graph_url,
        )
        channel = actions.connect_channel_from_terminal(workspace.pk, spec)
    else:
        channel = actions.point_channel_at(channel, graph_url, actor=SYSTEM, origin=Origin())
    owner = (
        Membership.objects.for_workspace(channel.workspace_id)
        .filter(role=Role.OWNER, user__is_active=True)
        .order_by("pk")
        .first()
    )
    if owner is None:
        return None
    for old in ApiToken.objects.for_workspace(channel.workspace_id).filter(
        name=TOKEN_NAME, revoked_at__isnull=True
    ):
        revoke_api_token(owner, old, origin=Origin())
    scopes = [scope for scope in Scope if scope.allowed_for(owner.role)]
    _, secret = create_api_token(owner, name=TOKEN_NAME, scopes=scopes, days=1, origin=Origin())
    return Wired(
        workspace_slug=Workspace.objects.get(pk=channel.workspace_id).slug,
        channel_id=channel.pk,
        webhook_url=webhook_url(public_url, channel.webhook_key),
        verify_token=open_for_system(channel, "verify_token"),
        api_token=secret,
    )


def start_customers(control: Any, wired: Wired) -> None:
    """What an owner does in Meta's dashboard (set the webhook), then the customers start writing."""
    control.set_webhook(WABA_ID, wired.webhook_url, wired.verify_token)
    control.run_scenario(customers_scenario())


def check_health(wired: Wired) -> None:
    """As the owner's "Check health" button would: quality, throughput and tier from the Graph API."""
    from chatrk.audit.actions import SYSTEM, Origin
    from chatrk.inbox.actions import check_channel_health
    from chatrk.inbox.errors import InboxError
    from chatrk.inbox.models import Channel

    with contextlib.suppress(InboxError):  # a failure shows on the Channels page; the demo goes on
        check_channel_health(Channel.objects.get(pk=wired.channel_id), actor=SYSTEM, origin=Origin())


def instructions(wired: Wired, public_url: str) -> str:
    api = f"{public_url.rstrip('/')}/api/v1"
    return f"""
The demo number is connected to workspace "{wired.workspace_slug}" and customers are writing in.

  Inbox:     {public_url.rstrip("/")}/w/{wired.workspace_slug}/inbox/
  Channels:  {public_url.rstrip("/")}/w/{wired.workspace_slug}/channels/
  API token (shown once, valid 1 day, replaced on the next run):
    {wired.api_token}

Try the API:
  export CHATRK_TOKEN={wired.api_token}
  curl -s -H "Authorization: Bearer $CHATRK_TOKEN" "{api}/conversations?status=open"
  curl -s -H "Authorization: Bearer $CHATRK_TOKEN" "{api}/conversations/CONVERSATION_ID/messages"
  curl -s -H "Authorization: Bearer $CHATRK_TOKEN" -H "Content-Type: application/json" \\
    -d '{{"body": "Hello! Your order is on its way."}}' "{api}/conversations/CONVERSATION_ID/messages/text"
  The OpenAPI schema: {api}/openapi.json
"""


# --- the process tree ------------------------------------------------------------------------------


def _wait_for(url: str, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _extra_roles() -> list[list[str]]:
    """The inbound drainer (``chatrk drain --loop``), when this installation has it, as ``chatrk run``."""
    from django.core.management import get_commands

    return [[sys.executable, "-m", "chatrk", "drain", "--loop"]] if "drain" in get_commands() else []


def run(host: str, port: int, *, web_command: list[str], emulator_port: int = 0, say: Say = print) -> int:
    """The supervisor: starts the three processes, wires them once a workspace exists, stops them all."""
    from django.conf import settings

    from chatrk.accounts.actions import announce_setup_link
    from emulator.client import EmulatorControl

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per control call is noise here
    var_dir = Path(settings.VAR_DIR)
    secrets = DemoSecrets.load(var_dir)
    config_path = var_dir / "demo_emulator.json"
    config_path.touch(mode=0o600)
    config_path.write_text(json.dumps(emulator_config(secrets), indent=2))
    emulator_port = emulator_port or free_port()
    emulator_url = f"http://127.0.0.1:{emulator_port}"
    public_url: str = settings.PUBLIC_URL

    emulator = [
        sys.executable,
        "-m",
        "emulator",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(emulator_port),
    ]
    children = [
        subprocess.Popen([*emulator, "--config", str(config_path)]),  # noqa: S603 (our own argv)
        subprocess.Popen(web_command),  # noqa: S603 (our own argv)
        subprocess.Popen([sys.executable, "-m", "chatrk", "worker"]),
        *[subprocess.Popen(command) for command in _extra_roles()],  # noqa: S603 (our own argv)
    ]
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)

    try:
        if not _wait_for(f"{emulator_url}/_emulator/health"):
            say("The emulator did not start; see its output above.")
            stop()
            return 1
        say(
            f"Chatrk is running at {public_url}/ with the Cloud API emulator at {emulator_url} (Ctrl-C stops)"
        )
        announce_setup_link(say)
        control = EmulatorControl(httpx.Client(base_url=emulator_url, timeout=10))
        waiting_said = False
        while not stopping.is_set():
            wired = wire(secrets, graph_url=emulator_url, public_url=public_url)
            if wired is not None:
                start_customers(control, wired)
                check_health(wired)
                say(instructions(wired, public_url))
                break
            if not waiting_said:
                say("Waiting for the first workspace: the demo number is connected as soon as it exists.")
                waiting_said = True
            if any(child.poll() is not None for child in children):
                break
            stopping.wait(WAIT_FOR_WORKSPACE_SECONDS)
        while not stopping.is_set() and all(child.poll() is None for child in children):
            stopping.wait(0.5)
        stop()
        return max(child.wait() for child in children)
    except KeyboardInterrupt:
        stop()
        for child in children:
            child.wait()
        return 0
