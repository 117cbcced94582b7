"""Browser tests: Playwright (Python) driving Debian's Chromium, never a downloaded browser."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatrk.core.models import Membership, Workspace
from chatrk.crypto.fields import open_for_system
from chatrk.inbox.models import Channel
from emulator.client import EmulatorControl

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("CHATRK_SCREENSHOTS", "test-artifacts/screenshots"))
# Chromium's own background traffic would only hit this machine's closed network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip


# Module scope: Playwright's sync API runs an event loop in this thread while the browser is open, and
# later tests in the same worker (the emulator's) call asyncio.run(), which refuses to nest.
@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        message = (
            "Debian's chromium is not installed: run `scripts/bootstrap --browser` (apt-get install chromium)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make are synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def screenshot() -> object:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: object, name: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]

    return take


ROOT = Path(__file__).resolve().parents[3]
AXE = ROOT / "tools" / "browser" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def axe_violations() -> object:
    """Serious and critical axe-core findings on the page (inject needs a context with bypass_csp=True)."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `scripts/bootstrap --browser`")

    def check(page: Any) -> list[str]:
        page.add_script_tag(path=str(AXE))
        results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        return [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results["violations"]
            if v["impact"] in {"serious", "critical"}
        ]

    return check


# --- a server wired to the Cloud API emulator, end to end -----------------------------------------

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
EMULATOR_TOKEN = "wired-emulator-token"
EMULATOR_APP_SECRET = "wired-emulator-app-secret"


@dataclass
class WiredServer:
    """Chatrk's live server, its channel on the emulator (a separate process on its own port), the
    drainer and the sender running in threads: a customer's message travels the real path, from the
    emulator's signed webhook to the inbox, and replies go out over HTTP to the emulator."""

    url: str
    emulator_url: str
    control: EmulatorControl
    owner: Membership
    channel: Channel

    @property
    def workspace(self) -> Workspace:
        return self.owner.workspace

    def customer_writes(self, wa_id: str, body: str, *, name: str | None = None) -> dict[str, Any]:
        """A customer sends a text: the emulator posts it, signed, to the channel's webhook."""
        return self.customer_sends(wa_id, "text", body=body, name=name)

    def customer_sends(self, wa_id: str, kind: str, **params: Any) -> dict[str, Any]:
        """Any inbound kind the emulator knows (image, reaction, revoke…); ``name`` sets the profile name."""
        return self.control.customer_sends(
            wa_id, kind, **{key: value for key, value in params.items() if value is not None}
        )

    def wait_for(self, condition: Callable[[], object], *, timeout: float = 10.0, what: str = "it") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def page_for(self, chromium: Any, member: Membership | None = None, **context: Any) -> Any:
        """A browser page signed in (password, then the authenticator's code) as ``member`` (the owner)."""
        from chatrk.testing import PASSWORD, next_code

        user = (member or self.owner).user
        page = chromium.new_context(**context).new_page()
        page.goto(f"{self.url}/login/")
        page.get_by_label("E-mail address").fill(user.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/login/verify/")
        page.get_by_label("Code from your authenticator app, or a recovery code").fill(next_code(user))
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/inbox/")
        return page

    def inbox_url(self) -> str:
        return f"{self.url}/w/{self.workspace.slug}/inbox/"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _emulator_healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_emulator/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def _emulator_process(tmp_path: Path) -> Iterator[str]:
    """The emulator as ``chatrk demo`` runs it: its own process, real HTTP, real signed webhooks."""
    port = _free_port()
    config = {
        "behaviour": {"time_scale": 1.0, "seed": 7, "delivered_after": 0.5, "read_after": 1.5},
        "accounts": [
            {
                "waba_id": WABA_ID,
                "access_tokens": [EMULATOR_TOKEN],
                "app_secret": EMULATOR_APP_SECRET,
                "messaging_tier": "TIER_UNLIMITED",
                "phone_numbers": [
                    {"id": PHONE_NUMBER_ID, "display_phone_number": "15550783881", "throughput": "HIGH"}
                ],
            }
        ],
    }
    path = tmp_path / "emulator.json"
    path.write_text(json.dumps(config))
    process = subprocess.Popen(  # noqa: S603 (our own argv)
        [sys.executable, "-m", "emulator", "serve", "--port", str(port), "--config", str(path)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while not _emulator_healthy(url):
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError("the emulator did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _drain_until(stop: threading.Event) -> None:
    """``chatrk drain --loop`` in a thread, fetching due media and sending due read receipts on every
    pass (no task queue in tests: the worker's tasks do both in production)."""
    from django.db import connection

    from chatrk.ingest import actions as ingest
    from chatrk.ingest import media
    from chatrk.outbound import receipts

    try:
        while not stop.is_set():
            result = ingest.drain()
            for media_id in media.due():
                media.fetch(media_id)
            receipts.send_due()
            if result.claimed == 0:
                stop.wait(0.1)
    finally:
        connection.close()  # this thread's own connection: the test database is dropped at the end


def _send_until_stopped(sender: Any) -> None:
    from django.db import connection

    try:
        sender.run()
    finally:
        connection.close()


@pytest.fixture
def wired_server(live_server: Any, tmp_path: Path, settings: Any) -> Iterator[WiredServer]:
    """Needs ``pytest.mark.django_db(transaction=True)``: the live server and the workers share the data."""
    from chatrk.core.roles import Role
    from chatrk.ingest import actions as ingest
    from chatrk.ingest import receive
    from chatrk.outbound.sender import Sender
    from chatrk.testing import add_member, make_channel, make_user, make_workspace

    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    settings.MEDIA_DIR = tmp_path / "media"
    receive.clear_cache()
    ingest.forget_cached()
    with _emulator_process(tmp_path) as emulator_url:
        owner = add_member(make_workspace("Harbour Books"), make_user(name="Rae Owner"), Role.OWNER)
        channel = make_channel(owner, phone_number_id=PHONE_NUMBER_ID, graph_url=emulator_url)
        channel.access_token = EMULATOR_TOKEN
        channel.app_secret = EMULATOR_APP_SECRET
        channel.throughput_level = "HIGH"
        channel.save()
        http = httpx.Client(base_url=emulator_url, timeout=10)
        control = EmulatorControl(http)
        control.set_webhook(
            WABA_ID,
            f"{live_server.url}/webhooks/whatsapp/{channel.webhook_key}",
            open_for_system(channel, "verify_token"),
        )
        stop = threading.Event()
        drainer = threading.Thread(target=_drain_until, args=(stop,), name="wired-drainer", daemon=True)
        sender = Sender(batch=50, concurrency=4, idle_sleep=0.1)
        sending = threading.Thread(
            target=_send_until_stopped, args=(sender,), name="wired-sender", daemon=True
        )
        drainer.start()
        sending.start()
        try:
            yield WiredServer(live_server.url, emulator_url, control, owner, channel)
        finally:
            stop.set()
            sender.stop()
            drainer.join(timeout=10)
            sending.join(timeout=10)
            http.close()
            receive.clear_cache()
