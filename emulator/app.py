"""The emulator as an ASGI application: Graph API routes, media downloads and the control API."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from emulator import control, template_api
from emulator.config import EmulatorConfig, default_config
from emulator.core import Emulator
from emulator.delivery import DeliveryPump
from emulator.errors import GraphError, invalid_parameter, unknown_object
from emulator.faults import FaultKind, FaultRule
from emulator.http import (
    Receive,
    Request,
    Response,
    Scope,
    Send,
    read_request,
    request_from_rsgi,
    rsgi_headers,
    write_response,
)
from emulator.media import parse_multipart

VERSION = re.compile(r"^v\d+(\.\d+)?$")
CONTROL_PREFIX = "/_emulator/"
DOWNLOAD_PATH = "/whatsapp_business/attachments/"


@dataclass(frozen=True)
class Deferred:
    """An answer that must wait `delay` wall seconds (slow/timeout faults) before `handler` runs."""

    delay: float
    handler: Callable[[], Response]


def graph_error(error: GraphError) -> Response:
    return Response.json(error.to_body(), error.status)


class EmulatorApp:
    """ASGI callable. `transport` lets tests deliver webhooks in-process instead of over sockets."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        emulator: Emulator | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.emulator = emulator or Emulator(config or default_config())
        self.webhook_transport = webhook_transport
        self.pump: DeliveryPump | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._init_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.pump is None:
            self.pump = DeliveryPump(self.emulator, self.webhook_transport)
            self._pump_task = asyncio.create_task(self.pump.run())

    async def stop(self) -> None:
        if self.pump is not None:
            await self.pump.close()
        if self._pump_task is not None:
            await self._pump_task
            self._pump_task = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if self.pump is None:
            await self.start()
        request = await read_request(scope, receive)
        response = await self.handle(request)
        await write_response(send, response)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Start the webhook pump with the worker, so scheduled work (a start-up scenario, retries) runs
        # even before the first request arrives.
        self._init_task = loop.create_task(self.start())

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http":
            return
        if self.pump is None:
            await self.start()
        response = await self.handle(request_from_rsgi(scope, await protocol()))
        protocol.response_bytes(response.status, rsgi_headers(response), response.body)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def handle(self, request: Request) -> Response:
        result = self.dispatch(request)
        if isinstance(result, Response):
            return result
        if isinstance(result, Deferred):
            await asyncio.sleep(result.delay)
            return self.run_locked(result.handler)
        return await control.settle_now(self)

    def dispatch(self, request: Request) -> Response | Deferred | None:
        """Answer synchronously when possible; a `Deferred` must wait first; None means "settle the pump"."""
        if request.path.startswith(CONTROL_PREFIX):
            return control.dispatch(self, request)
        if request.path == DOWNLOAD_PATH:
            return self._download(request)
        segments = [s for s in request.path.split("/") if s]
        if segments and VERSION.match(segments[0]):
            segments = segments[1:]
        try:
            return self._graph(request, segments)
        except GraphError as error:
            return graph_error(error)
        except (ValueError, UnicodeDecodeError):
            return graph_error(invalid_parameter("The request body is not valid JSON."))

    def _graph(self, request: Request, segments: list[str]) -> Response | Deferred:
        emulator = self.emulator
        with emulator.lock:
            wabas = emulator.authorize(
                request.headers.get("authorization") or _query_token(request.query.get("access_token"))
            )
        if len(segments) == 2 and segments[1] == "messages" and request.method == "POST":
            body = request.json()
            fault = self._fault("messages", body.get("to") if isinstance(body, dict) else None, segments[0])
            return self._with_fault(fault, lambda: self._send(segments[0], wabas, body))
        endpoint = _endpoint_name(segments)
        fault = self._fault(endpoint, None, segments[0] if segments else None)
        return self._with_fault(fault, lambda: self._route(request, segments, wabas))

    def _fault(self, endpoint: str, to: Any, phone_id: str | None) -> FaultRule | None:
        return self.emulator.faults.pick(endpoint, str(to) if to is not None else None, phone_id)

    def _with_fault(self, fault: FaultRule | None, handler: Callable[[], Response]) -> Response | Deferred:
        if fault is None:
            return self.run_locked(handler)
        if fault.kind is FaultKind.HTTP_500:
            return graph_error(GraphError(131000, "Something went wrong.", http_status=500))
        if fault.kind is FaultKind.HTTP_503:
            return graph_error(GraphError(131016, "Service temporarily unavailable.", http_status=503))
        if fault.kind is FaultKind.HTTP_429:
            return graph_error(GraphError(130429, "Rate limit hit (injected fault).", http_status=429))
        if fault.kind in (FaultKind.TIMEOUT, FaultKind.SLOW):
            # The request is still processed after the wait: a client that timed out cannot know
            # whether Meta sent the message, exactly as in production.
            return Deferred(fault.delay or (30.0 if fault.kind is FaultKind.TIMEOUT else 1.0), handler)
        response = self.run_locked(handler)
        return Response(200, response.body[: max(1, len(response.body) // 2)], response.headers)

    def run_locked(self, handler: Callable[[], Response]) -> Response:
        with self.emulator.lock:
            try:
                result = handler()
            except GraphError as error:
                return graph_error(error)
            return result

    def _send(self, phone_number_id: str, wabas: set[str], body: Any) -> Response:
        phone = self.emulator.phone_for(phone_number_id, wabas)
        return Response.json(self.emulator.send(phone, body))

    def _route(self, request: Request, segments: list[str], wabas: set[str]) -> Response:
        emulator = self.emulator
        if len(segments) == 2:
            object_id, edge = segments
            if edge == "media" and request.method == "POST":
                phone = emulator.phone_for(object_id, wabas)
                upload = parse_multipart(request.headers.get("content-type", ""), request.body)
                return Response.json({"id": emulator.store_media(phone.config.id, upload).id})
            if edge == "message_templates":
                return self._templates(request, object_id, wabas)
            if edge == "unpause" and request.method == "POST":
                return Response.json(
                    template_api.unpause(emulator, template_api.template_for(emulator, object_id, wabas))
                )
            if edge == "phone_numbers" and request.method == "GET":
                account = emulator.account_for(object_id, wabas)
                return Response.json({"data": [_phone_view(emulator, p.id) for p in account.phone_numbers]})
            if edge == "subscribed_apps":
                emulator.account_for(object_id, wabas)
                if request.method == "GET":
                    return Response.json(
                        {"data": [{"whatsapp_business_api_data": {"id": "1", "name": "Emulator"}}]}
                    )
                return Response.json({"success": True})
            raise unknown_object(object_id)
        if len(segments) == 1:
            return self._object(request, segments[0], wabas)
        raise invalid_parameter("Unknown path components.")

    def _templates(self, request: Request, waba_id: str, wabas: set[str]) -> Response:
        emulator = self.emulator
        emulator.account_for(waba_id, wabas)
        if request.method == "POST":
            return Response.json(template_api.create(emulator, waba_id, request.form_or_json()))
        if request.method == "GET":
            base = f"{request.base_url}{_version_prefix(request.path)}"
            return Response.json(template_api.listing(emulator, waba_id, request.query, base))
        if request.method == "DELETE":
            return Response.json(template_api.delete(emulator, waba_id, request.query))
        raise invalid_parameter("Unsupported method.")

    def _object(self, request: Request, object_id: str, wabas: set[str]) -> Response:
        emulator = self.emulator
        if object_id in emulator.media:
            item = emulator.media_item(object_id, wabas, request.query.get("phone_number_id"))
            if request.method == "DELETE":
                item.deleted = True
                return Response.json({"success": True})
            token = emulator.media_url(item)
            return Response.json(
                {
                    "messaging_product": "whatsapp",
                    "url": f"{request.base_url}{DOWNLOAD_PATH}"
                    f"?mid={token}&ext={int(emulator.clock.now())}&hash={token[:8]}",
                    "mime_type": item.mime_type,
                    "sha256": item.sha256,
                    "file_size": item.file_size,
                    "id": item.id,
                }
            )
        if object_id in emulator.templates:
            template = template_api.template_for(emulator, object_id, wabas)
            if request.method == "POST":
                return Response.json(template_api.edit(emulator, template, request.form_or_json()))
            if request.method == "DELETE":
                return Response.json(
                    template_api.delete(
                        emulator, template.waba_id, {"name": template.name, "hsm_id": template.id}
                    )
                )
            return Response.json(template_api.get_one(template, request.query))
        if object_id in emulator.phones and request.method == "GET":
            view = _phone_view(emulator, emulator.phone_for(object_id, wabas).config.id)
            return Response.json(_only_fields(view, request.query.get("fields")))
        if object_id in emulator.accounts and request.method == "GET":
            account = emulator.account_for(object_id, wabas)
            return Response.json(
                {
                    "id": account.waba_id,
                    "name": f"WABA {account.waba_id}",
                    "currency": "USD",
                    "timezone_id": "1",
                }
            )
        raise unknown_object(object_id)

    def _download(self, request: Request) -> Response:
        emulator = self.emulator
        with emulator.lock:
            try:
                wabas = emulator.authorize(request.headers.get("authorization"))
            except GraphError as error:
                return graph_error(error)
            item = emulator.media_for_download(request.query.get("mid", ""))
            owner = emulator.phones.get(item.phone_number_id) if item is not None else None
            if item is None or owner is None or owner.account.waba_id not in wabas:
                return Response.text("Not Found", 404)
            return Response(200, item.data, [(b"content-type", item.mime_type.encode())])


def _phone_view(emulator: Emulator, phone_number_id: str) -> dict[str, Any]:
    phone = emulator.phones[phone_number_id]
    return {
        "id": phone.config.id,
        "display_phone_number": phone.config.display_phone_number,
        "verified_name": phone.config.verified_name,
        "quality_rating": str(phone.quality),
        "throughput": {"level": str(phone.throughput)},
        "whatsapp_business_manager_messaging_limit": emulator.tiers.get(phone.account.portfolio_id),
        "code_verification_status": "VERIFIED",
        "platform_type": "CLOUD_API",
    }


def _only_fields(view: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """Graph returns just the requested `fields` (and always the id)."""
    if not fields:
        return view
    wanted = {f.strip() for f in fields.split(",")} | {"id"}
    return {key: value for key, value in view.items() if key in wanted}


def _endpoint_name(segments: list[str]) -> str:
    if len(segments) == 2 and segments[1] == "media":
        return "media"
    if len(segments) == 2 and segments[1] in ("message_templates", "unpause"):
        return "templates"
    return "graph"


def _version_prefix(path: str) -> str:
    first = path.strip("/").split("/", 1)[0]
    return f"/{first}" if VERSION.match(first) else ""


def _query_token(token: str | None) -> str | None:
    return f"Bearer {token}" if token else None
