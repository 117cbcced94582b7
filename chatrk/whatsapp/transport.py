"""GraphClient's HTTP/1.1 transport: kept-alive sockets under httpx's API.

httpx's default transport (httpcore + h11) cost about as much CPU per Cloud API call as the rest of
the sender's work on a message. This transport keeps httpx's ``Client`` (requests, timeouts, proxies
from the environment, no redirects, the tests' transports) and replaces only the connection layer:
kept-alive sockets, TLS with the caller's context, each request's own connect, write and read
timeouts, and a strict reader of the answer (Content-Length or chunked bodies, bounded lines and
headers; anything else is a protocol error).

It never sends a request twice. A failure before any byte of the request left is a connect error
(``httpx.ConnectError`` / ``ConnectTimeout``: safe to send again); any later failure is a write, read
or protocol error, after which WhatsApp may have accepted the message. An idle connection that the
server closed (or wrote to) is dropped before it is used, as httpcore does.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import string
import threading
from collections.abc import Iterator
from io import BufferedReader

import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK = 64 * 1024
_MAX_LINE = 64 * 1024  # a status, header or chunk-size line (http.client's limits)
_MAX_HEADERS = 100
_MAX_INTERIM = 10  # 1xx answers before the final one: a server sending them for ever is broken
_HEX = frozenset(string.hexdigits.encode())
_LINE_BREAK = re.compile(rb"[\r\n\0]")
_Origin = tuple[str, str, int]


class GraphTransport(httpx.BaseTransport):
    """Thread-safe; keeps at most ``max_idle`` idle connections per origin."""

    def __init__(self, ssl_context: ssl.SSLContext, *, max_idle: int = 4) -> None:
        self._ssl_context = ssl_context
        self._max_idle = max_idle
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}")
        origin = (url.scheme, url.host, url.port or _DEFAULT_PORTS[url.scheme])
        timeouts = request.extensions.get("timeout", {})
        payload = _request_bytes(request)
        connection = self._idle_connection(origin) or self._connect(origin, timeouts.get("connect"))
        try:
            with _mapped(httpx.WriteTimeout, httpx.WriteError):
                connection.sock.settimeout(timeouts.get("write"))
                connection.sock.sendall(payload)
            with _mapped(httpx.ReadTimeout, httpx.ReadError):
                connection.sock.settimeout(timeouts.get("read"))
                head = _read_head(connection.reader, request.method)
        except BaseException:
            connection.close()
            raise
        return httpx.Response(
            head.status,
            headers=head.headers,
            stream=_Body(self, origin, connection, head),
            extensions={"http_version": head.version, "reason_phrase": head.reason},
        )

    def close(self) -> None:
        with self._lock:
            idle = [connection for connections in self._idle.values() for connection in connections]
            self._idle.clear()
        for connection in idle:
            connection.close()

    def _idle_connection(self, origin: _Origin) -> _Connection | None:
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                if not idle:
                    return None
                connection = idle.pop()
            # Readable while idle: the server closed it (or broke the protocol). Never reuse it.
            poller = select.poll()
            poller.register(connection.sock, select.POLLIN)
            if not poller.poll(0):
                return connection
            connection.close()

    def _connect(self, origin: _Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError as error:
            raise httpx.ConnectTimeout(str(error)) from error
        except OSError as error:
            raise httpx.ConnectError(str(error)) from error
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":  # the handshake runs under the connect timeout
                sock = self._ssl_context.wrap_socket(sock, server_hostname=host)
        except TimeoutError as error:
            sock.close()
            raise httpx.ConnectTimeout(str(error)) from error
        except OSError as error:  # ssl.SSLError included: a failed handshake sent no request
            sock.close()
            raise httpx.ConnectError(str(error)) from error
        return _Connection(sock)

    def _release(self, origin: _Origin, connection: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self._max_idle:
                idle.append(connection)
                return
        connection.close()


class _Connection:
    __slots__ = ("reader", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader: BufferedReader = sock.makefile("rb")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class _Head:
    __slots__ = ("chunked", "headers", "keep_alive", "length", "reason", "status", "version")

    def __init__(
        self, version: bytes, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        self.version, self.status, self.reason, self.headers = version, status, reason, headers
        self.chunked = False
        self.length: int | None = None  # None with chunked False: the body runs until the server closes
        self.keep_alive = version == b"HTTP/1.1"


def _read_head(reader: BufferedReader, method: str) -> _Head:
    """The final answer's status line and headers (1xx interim answers skipped), and its framing."""
    for _ in range(_MAX_INTERIM + 1):
        line = _line(reader)
        if not line:
            raise httpx.RemoteProtocolError("the server closed the connection without answering")
        version, _, rest = line.rstrip(b"\r\n").partition(b" ")
        code, _, reason = rest.partition(b" ")
        if version not in {b"HTTP/1.1", b"HTTP/1.0"} or len(code) != 3 or not code.isdigit():
            raise httpx.RemoteProtocolError("malformed status line")
        head = _Head(version, int(code), reason, _read_headers(reader))
        if head.status >= 200:
            break
    else:
        raise httpx.RemoteProtocolError("too many interim answers")
    lengths: set[bytes] = set()
    for name, value in head.headers:
        name = name.lower()
        if name == b"content-length":
            lengths.add(value)
        elif name == b"transfer-encoding":
            if value.lower() != b"chunked":
                raise httpx.RemoteProtocolError("unsupported transfer encoding")
            head.chunked = True
        elif name == b"connection" and b"close" in value.lower():
            head.keep_alive = False
    if method == "HEAD" or head.status in {204, 304}:
        head.chunked, head.length = False, 0
    elif head.chunked:
        head.keep_alive = head.keep_alive and not lengths  # both framings: close after it (RFC 9112)
    elif lengths:
        value = lengths.pop()
        if lengths or not value.isdigit():
            raise httpx.RemoteProtocolError("invalid Content-Length")
        head.length = int(value)
    else:
        head.keep_alive = False
    return head


def _read_headers(reader: BufferedReader) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    while (line := _line(reader)) not in {b"\r\n", b"\n"}:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or len(headers) >= _MAX_HEADERS:
            raise httpx.RemoteProtocolError("malformed headers")
        headers.append((name, value.strip()))
    return headers


def _line(reader: BufferedReader) -> bytes:
    line = reader.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE or (line and not line.endswith(b"\n")):
        raise httpx.RemoteProtocolError("a line too long, or cut short")
    return line


class _Body(httpx.SyncByteStream):
    """The answer's body; its connection is kept for the next request once the body was read to its end."""

    def __init__(
        self, transport: GraphTransport, origin: _Origin, connection: _Connection, head: _Head
    ) -> None:
        self._transport = transport
        self._origin = origin
        self._connection: _Connection | None = connection
        self._head = head
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        assert self._connection is not None
        reader = self._connection.reader
        with _mapped(httpx.ReadTimeout, httpx.ReadError):
            if self._head.chunked:
                yield from _chunked(reader)
            elif self._head.length is None:
                while chunk := reader.read1(_CHUNK):
                    yield chunk
            else:
                yield from _exactly(reader, self._head.length)
        self._complete = True

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._complete and self._head.keep_alive:
            self._transport._release(self._origin, connection)
        else:
            connection.close()


def _exactly(reader: BufferedReader, size: int) -> Iterator[bytes]:
    while size:
        chunk = reader.read1(min(size, _CHUNK))
        if not chunk:
            raise httpx.RemoteProtocolError("the body was cut short")
        size -= len(chunk)
        yield chunk


def _chunked(reader: BufferedReader) -> Iterator[bytes]:
    while True:
        size_text = _line(reader).split(b";", 1)[0].strip()
        if not size_text or not _HEX.issuperset(size_text):
            raise httpx.RemoteProtocolError("malformed chunk size")
        size = int(size_text, 16)
        if size == 0:
            _read_headers(reader)  # trailers, ignored
            return
        yield from _exactly(reader, size)
        if _line(reader) not in {b"\r\n", b"\n"}:
            raise httpx.RemoteProtocolError("malformed chunk")


def _request_bytes(request: httpx.Request) -> bytes:
    """The request line, headers (httpx set Host and Content-Length) and body.

    httpx does not check header values: one holding a line break (a pasted token, say) would add
    headers of its own, so it is refused here, before a connection is taken, as h11 refused it."""
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    lines.extend(b"%s: %s" % (name, value) for name, value in request.headers.raw)
    if any(_LINE_BREAK.search(line) for line in lines):
        raise httpx.LocalProtocolError("a request line or header holds a line break or NUL")
    return b"\r\n".join(lines) + b"\r\n\r\n" + request.read()


@contextlib.contextmanager
def _mapped(timeout: type[httpx.TimeoutException], failure: type[httpx.TransportError]) -> Iterator[None]:
    """Socket errors as httpx's, so that GraphClient classifies them as it does for any transport."""
    try:
        yield
    except TimeoutError as error:
        raise timeout(str(error)) from error
    except OSError as error:
        raise failure(str(error)) from error
