"""Run the emulator in-process for tests: a background event loop, a sync httpx transport, a receiver.

with EmulatorServer(config, receiver=WebhookReceiver(app_secret=...)) as server:
    graph = server.graph_client()              # httpx.Client aimed at the Graph API
    server.control.text("16505551234", "hi")   # scripted customer
    server.settle()                            # deliver due webhooks
    server.receiver.payloads                   # what your webhook endpoint received
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

import httpx

from emulator.app import EmulatorApp
from emulator.client import EmulatorControl
from emulator.config import DEFAULT_TOKEN, EmulatorConfig, default_config
from emulator.http import Receive, Response, Scope, Send, read_request, write_response
from emulator.signing import verify

T = TypeVar("T")
GRAPH_BASE = "https://graph.facebook.com/v23.0"
RECEIVER_URL = "https://receiver.test/webhook"


@dataclass
class ReceivedWebhook:
    body: bytes
    signature: str | None
    valid: bool

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """An integrator's webhook endpoint: answers the handshake, checks signatures, records bodies.

    `statuses` is a queue of HTTP codes to answer POSTs with (then 200), to exercise redelivery.
    """

    app_secret: str
    verify_token: str = "emulator-verify-token"  # noqa: S105 - a documented test default, not a secret
    statuses: list[int] = field(default_factory=list)
    received: list[ReceivedWebhook] = field(default_factory=list)
    challenges: int = 0

    @property
    def payloads(self) -> list[Any]:
        return [r.payload for r in self.received]

    def statuses_seen(self) -> list[tuple[str, str]]:
        found = []
        for payload in self.payloads:
            for entry in payload["entry"]:
                for change in entry["changes"]:
                    for item in change["value"].get("statuses", []):
                        found.append((item["id"], item["status"]))
        return found

    def messages_seen(self) -> list[dict[str, Any]]:
        return [
            m
            for p in self.payloads
            for e in p["entry"]
            for c in e["changes"]
            for m in c["value"].get("messages", [])
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        if request.method == "GET":
            ok = (
                request.query.get("hub.mode") == "subscribe"
                and request.query.get("hub.verify_token") == self.verify_token
            )
            self.challenges += 1
            response = Response.text(request.query.get("hub.challenge", ""), 200 if ok else 403)
        else:
            header = request.headers.get("x-hub-signature-256")
            valid = verify(self.app_secret, request.body, header)
            self.received.append(ReceivedWebhook(request.body, header, valid))
            status = self.statuses.pop(0) if self.statuses else 200
            response = Response.text("ok" if status == 200 else "nope", status)
        await write_response(send, response)


class _SyncASGITransport(httpx.BaseTransport):
    """Lets a sync `httpx.Client` (pywa's) call the ASGI app running on the server's loop thread."""

    def __init__(self, server: EmulatorServer) -> None:
        self._server = server
        self._inner = httpx.ASGITransport(app=server.app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        replay = httpx.Request(request.method, request.url, headers=request.headers, content=content)

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = await self._inner.handle_async_request(replay)
            body = await response.aread()
            return response.status_code, response.headers.raw, body

        status, headers, body = self._server.run(call())
        return httpx.Response(status, headers=headers, content=body, request=request)


class EmulatorServer:
    """The emulator on a private event loop thread; nothing listens on a socket."""

    def __init__(self, config: EmulatorConfig | None = None, receiver: WebhookReceiver | None = None) -> None:
        base = config or default_config()
        if receiver is not None and not any(a.callback_url for a in base.accounts):
            from dataclasses import replace

            base = replace(base, accounts=tuple(replace(a, callback_url=RECEIVER_URL) for a in base.accounts))
        self.config = base
        self.receiver = receiver
        transport = httpx.ASGITransport(app=receiver) if receiver is not None else None
        self.app = EmulatorApp(base, webhook_transport=transport)
        self.emulator = self.app.emulator
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="emulator-loop", daemon=True)
        self.transport = _SyncASGITransport(self)
        self.control = EmulatorControl(
            httpx.Client(transport=self.transport, base_url="http://emulator.test")
        )

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def __enter__(self) -> EmulatorServer:
        self._thread.start()
        self.run(self.app.start())
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.run(self.app.stop())
        self.control.http.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def graph_client(self, token: str = DEFAULT_TOKEN, base_url: str = GRAPH_BASE) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(transport=self.transport, base_url=base_url, headers=headers)

    def session(self) -> httpx.Client:
        """A bare client for libraries that set their own base URL and token (pywa)."""
        return httpx.Client(transport=self.transport)

    def settle(self) -> None:
        assert self.app.pump is not None
        self.run(self.app.pump.settle())

    def advance(self, seconds: float) -> None:
        self.emulator.advance(seconds)
        self.settle()
