"""A minimal request/response layer over raw ASGI: fast, typed, no framework."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json; charset=UTF-8")]
# One encoder for the process: json.dumps with options builds a new JSONEncoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def compact_json(data: Any) -> bytes:
    """Compact UTF-8 JSON, the way Graph answers and the bytes webhook signatures cover."""
    return _ENCODER.encode(data).encode()


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str

    def json(self) -> Any:
        if not self.body:
            return {}
        return json.loads(self.body.decode())  # Graph bodies are UTF-8; skips json's encoding sniffing

    def form_or_json(self) -> Any:
        """Graph accepts parameters as JSON, form fields or the query string."""
        content_type = self.headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            return dict(parse_qsl(self.body.decode()))
        body = self.json()
        if not body and self.query:
            return {k: v for k, v in self.query.items() if k != "access_token"}
        return body


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, compact_json(data), JSON_HEADERS)

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), [(b"content-type", b"text/plain; charset=UTF-8")])


async def read_request(scope: Scope, receive: Receive) -> Request:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = bool(message.get("more_body", False))
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    host = headers.get("host", "localhost")
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
    return Request(
        method=scope["method"],
        path=scope["path"],
        query=query,
        headers=headers,
        body=b"".join(chunks),
        base_url=f"{scope.get('scheme', 'http')}://{host}",
    )


async def write_response(send: Send, response: Response) -> None:
    headers = [*response.headers, (b"content-length", str(len(response.body)).encode())]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


# RSGI (granian's native interface): the same Request/Response, with less per-request overhead than ASGI.
# The only request headers the emulator reads; copying just these keeps the per-request cost down.
USED_HEADERS = ("authorization", "content-type", "host")


def request_from_rsgi(scope: Any, body: bytes) -> Request:
    raw = scope.headers
    headers = {name: value for name in USED_HEADERS if (value := raw.get(name)) is not None}
    query = dict(parse_qsl(scope.query_string, keep_blank_values=True))
    host = scope.authority or headers.get("host", "localhost")
    return Request(
        method=scope.method,
        path=scope.path,
        query=query,
        headers=headers,
        body=body,
        base_url=f"{scope.scheme}://{host}",
    )


def rsgi_headers(response: Response) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in response.headers]
