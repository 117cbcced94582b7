"""Multi-worker mode with one shared state: granian workers forward requests to a single state owner.

Granian hands each connection to whichever worker accepts it, so per-worker state would split a phone
number's windows, buckets and templates across processes. Instead, with `--workers N > 1`, one owner
process runs the real `EmulatorApp` (state and webhook pump) behind a Unix socket, and the N granian
workers are thin `ProxyApp`s: they parse HTTP (in Rust) and pass each request over a kept-alive local
connection. Behaviour is exactly the single-process behaviour; the workers add HTTP parsing capacity.

Frames are `marshal`-encoded tuples behind a 4-byte length. marshal is only safe between trusted peers:
the socket lives in a private 0700 directory created by the parent process.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import os
import struct
import sys
from pathlib import Path
from typing import Any

from emulator.app import Deferred, EmulatorApp
from emulator.config import default_config, load_config
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

HEADER = struct.Struct("!I")
logger = logging.getLogger("emulator.owner")
INTERNAL_ERROR = Response.json(
    {"error": {"message": "(#131000) Something went wrong", "type": "OAuthException", "code": 131000}}, 500
)
POOL_SIZE = 64


def _frame(value: Any) -> bytes:
    data = marshal.dumps(value)
    return HEADER.pack(len(data)) + data


class OwnerProtocol(asyncio.Protocol):
    """One worker connection. Workers send one request at a time per connection, so answers stay in order.

    A Protocol (not streams) because this is the hot path: most requests are answered synchronously
    right inside `data_received`; only fault delays and `settle` go through a task.
    """

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self.buffer)
            end = HEADER.size + length
            if len(self.buffer) < end:
                return
            fields = marshal.loads(bytes(self.buffer[HEADER.size : end]))  # noqa: S302 - trusted local peer
            del self.buffer[:end]
            try:
                self._answer(fields)
            except Exception:  # a bug must not take the worker's connection down with it
                logger.exception("emulator request failed")
                self._reply(INTERNAL_ERROR)

    def _answer(self, fields: Any) -> None:
        method, path, query, headers, body, base_url = fields
        request = Request(
            method=method, path=path, query=query, headers=headers, body=body, base_url=base_url
        )
        result = self.app.dispatch(request)
        if isinstance(result, Response):
            self._reply(result)
        else:
            task = asyncio.ensure_future(self.app.handle(request) if result is None else self._later(result))
            task.add_done_callback(self._reply_when_done)

    def _reply_when_done(self, done: asyncio.Future[Response]) -> None:
        if done.exception() is not None:
            logger.error("emulator request failed", exc_info=done.exception())
            self._reply(INTERNAL_ERROR)
        else:
            self._reply(done.result())

    async def _later(self, deferred: Deferred) -> Response:
        await asyncio.sleep(deferred.delay)
        return self.app.run_locked(deferred.handler)

    def _reply(self, response: Response) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame((response.status, response.headers, response.body)))


async def run_owner(socket_path: str, config_path: str | None) -> None:
    """The state owner: the real app and webhook pump, answering workers on `socket_path`."""
    from emulator.server import with_startup_scenario  # the server module imports this one

    config = load_config(Path(config_path)) if config_path else default_config()
    app = with_startup_scenario(EmulatorApp(config))
    await app.start()
    loop = asyncio.get_running_loop()
    server = await loop.create_unix_server(lambda: OwnerProtocol(app), path=socket_path, backlog=1024)
    async with server:
        await server.serve_forever()


class ProxyApp:
    """What each granian worker runs: forward to the owner over a pool of Unix-socket connections."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self._idle: list[_OwnerConnection] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        await write_response(send, await self.forward(request))

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http":
            return
        response = await self.forward(request_from_rsgi(scope, await protocol()))
        protocol.response_bytes(response.status, rsgi_headers(response), response.body)

    async def forward(self, request: Request) -> Response:
        frame = _frame(
            (request.method, request.path, request.query, request.headers, request.body, request.base_url)
        )
        try:
            status, headers, body = await self._exchange(frame)
        except OSError:
            return Response.json(
                {
                    "error": {
                        "message": "emulator state owner unavailable",
                        "type": "OAuthException",
                        "code": 131016,
                    }
                },
                503,
            )
        return Response(status, body, [(name, value) for name, value in headers])

    async def _exchange(self, frame: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        connection = self._idle.pop() if self._idle else await self._connect()
        try:
            status, headers, body = await connection.request(frame)
        except BaseException:
            connection.close()
            raise
        if len(self._idle) < POOL_SIZE:
            self._idle.append(connection)
        else:
            connection.close()
        return status, headers, body

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    async def _connect(self) -> _OwnerConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_unix_connection(_OwnerConnection, self.socket_path)
        return protocol


class _OwnerConnection(asyncio.Protocol):
    """A worker's connection to the owner: one request in flight, answered through a future."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Any] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) < HEADER.size:
            return
        (length,) = HEADER.unpack_from(self.buffer)
        end = HEADER.size + length
        if len(self.buffer) < end or self.waiter is None:
            return
        value = marshal.loads(bytes(self.buffer[HEADER.size : end]))  # noqa: S302 - trusted local peer
        del self.buffer[:end]
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result(value)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the emulator state owner closed the connection"))

    async def request(self, frame: bytes) -> Any:
        if self.transport is None:
            raise ConnectionError("not connected")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(frame)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def main() -> None:
    socket_path, config_path = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
    os.umask(0o077)
    asyncio.run(run_owner(socket_path, config_path or None))


if __name__ == "__main__":
    main()
