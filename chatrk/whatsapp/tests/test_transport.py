"""GraphClient's own HTTP/1.1 transport against scripted servers on real sockets: connection reuse,
connections the server dropped, every way an answer can be broken, timeouts and TLS.

What matters most for the sender: a request is never sent twice, and only a failure before any byte
left is a connect error (the sender may then send again); everything later is not."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chatrk.whatsapp.client import GraphClient, GraphSettings
from chatrk.whatsapp.errors import FailureKind, GraphError
from chatrk.whatsapp.messages import TextMessage
from chatrk.whatsapp.transport import GraphTransport

PHONE_ID = "106540352242922"
SENT = (
    b'{"messaging_product":"whatsapp","contacts":[{"input":"1","wa_id":"16505551234"}],'
    b'"messages":[{"id":"wamid.A"}]}'
)

type Script = Callable[[socket.socket, "Server"], None]


def ok(body: bytes = SENT, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (
        len(body),
        extra,
        body,
    )


class Server:
    """Accepts connections on 127.0.0.1 and runs ``script`` on each one, in a thread of its own."""

    def __init__(self, script: Script, context: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.context = context
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed = threading.Event()  # set when a script closed its connection
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            self.script(conn, self)
        except OSError:
            pass
        finally:
            conn.close()
            self.closed.set()

    def read_request(self, conn: socket.socket) -> bytes | None:
        """One request (headers and Content-Length body), or None when the client closed."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        while len(body) < length:
            body += conn.recv(65536)
        self.requests.append(head + b"\r\n\r\n" + body)
        return head

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(script: Script, context: ssl.SSLContext | None = None) -> Server:
        servers.append(Server(script, context))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def answering(*answers: bytes) -> Script:
    """Answers each request on a connection with the next answer, then waits for the next request."""

    def script(conn: socket.socket, server: Server) -> None:
        for answer in answers:
            if server.read_request(conn) is None:
                return
            conn.sendall(answer)
        server.read_request(conn)  # keep the connection open until the client is done with it

    return script


def transport() -> GraphTransport:
    return GraphTransport(ssl.create_default_context())


def client(port: int, *, scheme: str = "http", read_timeout: float = 5.0, **kwargs: object) -> GraphClient:
    settings = GraphSettings(base_url=f"{scheme}://127.0.0.1:{port}", read_timeout=read_timeout)
    return GraphClient("token", settings=settings, **kwargs)  # type: ignore[arg-type]


def send(graph: GraphClient) -> str:
    return graph.send(PHONE_ID, "+16505551234", TextMessage("hello")).wamid


def get(server: Server, path: str = "/") -> httpx.Response:
    with httpx.Client(transport=transport(), timeout=5) as http:
        return http.get(f"http://127.0.0.1:{server.port}{path}")


def test_sends_keep_one_connection_alive(serve: Callable[..., Server]) -> None:
    server = serve(answering(ok(), ok(), ok()))
    with client(server.port) as graph:
        assert [send(graph) for _ in range(3)] == ["wamid.A"] * 3
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /v23.0/106540352242922/messages HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer token\r\n" in first
    assert first.endswith(b'"text":{"body":"hello","preview_url":false}}')


def test_a_connection_the_server_closed_while_idle_is_not_used(serve: Callable[..., Server]) -> None:
    def once_then_close(conn: socket.socket, server: Server) -> None:
        server.read_request(conn)
        conn.sendall(ok())

    server = serve(once_then_close)
    with client(server.port) as graph:
        assert send(graph) == "wamid.A"
        assert server.closed.wait(5)
        assert send(graph) == "wamid.A"  # on a new connection, without an error
    assert server.connections == 2
    assert len(server.requests) == 2


def test_connection_close_is_honoured(serve: Callable[..., Server]) -> None:
    server = serve(answering(ok(extra=b"connection: close\r\n"), ok()))
    with client(server.port) as graph:
        send(graph)
        send(graph)
    assert server.connections == 2


def test_a_refused_connection_is_a_connect_error_nothing_was_sent() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with client(port) as graph, pytest.raises(GraphError) as caught:
        send(graph)
    assert caught.value.kind is FailureKind.TRANSPORT
    assert isinstance(caught.value.__context__, httpx.ConnectError)


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nX-Injected: 1", "a\0b"])
def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(
    serve: Callable[..., Server], value: str
) -> None:
    # GraphClient checks its token; this guards every other header, as h11 did.
    server = serve(answering(ok()))
    with httpx.Client(transport=transport(), timeout=5) as http, pytest.raises(httpx.LocalProtocolError):
        http.get(f"http://127.0.0.1:{server.port}/", headers={"X-Trace": value})
    assert server.connections == 0


def test_a_connection_dropped_after_the_request_is_not_a_connect_error_and_is_not_retried(
    serve: Callable[..., Server],
) -> None:
    def read_and_drop(conn: socket.socket, server: Server) -> None:
        server.read_request(conn)

    server = serve(read_and_drop)
    with client(server.port) as graph, pytest.raises(GraphError) as caught:
        send(graph)
    assert caught.value.kind is FailureKind.TRANSPORT
    assert isinstance(caught.value.__context__, httpx.RemoteProtocolError)
    assert len(server.requests) == 1


def test_no_answer_in_time_is_a_read_timeout(serve: Callable[..., Server]) -> None:
    def silent(conn: socket.socket, server: Server) -> None:
        server.read_request(conn)
        server.read_request(conn)  # until the client gives up

    server = serve(silent)
    with client(server.port, read_timeout=0.2) as graph, pytest.raises(GraphError) as caught:
        send(graph)
    assert caught.value.kind is FailureKind.TIMEOUT
    assert isinstance(caught.value.__context__, httpx.ReadTimeout)


def test_a_chunked_answer_with_interim_answer_extensions_and_trailers(serve: Callable[..., Server]) -> None:
    chunked = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n"
        b"%x;ext=1\r\n%s\r\n%x\r\n%s\r\n0\r\nx-trailer: 1\r\n\r\n"
        % (10, SENT[:10], len(SENT) - 10, SENT[10:])
    )
    server = serve(answering(chunked, ok()))
    with client(server.port) as graph:
        assert send(graph) == "wamid.A"
        assert send(graph) == "wamid.A"
    assert server.connections == 1


def test_an_answer_that_runs_until_the_server_closes(serve: Callable[..., Server]) -> None:
    def until_close(conn: socket.socket, server: Server) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it")

    server = serve(until_close)
    assert get(server).content == b"all of it"
    assert get(server).status_code == 200
    assert server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"HTTP/2 200 OK\r\ncontent-length: 0\r\n\r\n", id="not HTTP/1.x"),
        pytest.param(b"HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n", id="status"),
        pytest.param(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", id="body cut short"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab", id="two lengths"
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", id="negative length"),
        pytest.param(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nx", id="unknown encoding"),
        pytest.param(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", id="chunk size"),
        pytest.param(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n", id="chunk length"),
        pytest.param(b"HTTP/1.1 200 OK\r\nx-long: " + b"a" * 70000 + b"\r\n\r\n", id="line too long"),
        pytest.param(b"HTTP/1.1 200 OK\r\n" + b"x-h: 1\r\n" * 101 + b"\r\n", id="too many headers"),
        pytest.param(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", id="header without colon"),
        pytest.param(b"HTTP/1.1 200 OK\r\n folded: 1\r\n\r\n", id="folded header"),
        pytest.param(
            b"HTTP/1.1 100 Continue\r\n\r\n" * 11 + b"HTTP/1.1 200 OK\r\n\r\n", id="interim for ever"
        ),
    ],
)
def test_a_broken_answer_is_a_protocol_error(serve: Callable[..., Server], answer: bytes) -> None:
    def broken(conn: socket.socket, server: Server) -> None:
        server.read_request(conn)
        conn.sendall(answer)

    server = serve(broken)
    with pytest.raises(httpx.RemoteProtocolError):
        get(server)


def test_an_answer_without_a_body(serve: Callable[..., Server]) -> None:
    server = serve(answering(b"HTTP/1.1 204 No Content\r\n\r\n", ok(b"{}")))
    with httpx.Client(transport=transport(), timeout=5) as http:
        assert http.delete(f"http://127.0.0.1:{server.port}/").status_code == 204
        assert http.get(f"http://127.0.0.1:{server.port}/").content == b"{}"
    assert server.connections == 1


def test_a_body_read_only_in_part_does_not_leave_its_connection_for_the_next_request(
    serve: Callable[..., Server],
) -> None:
    server = serve(answering(ok(b"x" * 200_000), ok(b"{}")))
    with httpx.Client(transport=transport(), timeout=5) as http:
        with http.stream("GET", f"http://127.0.0.1:{server.port}/") as response:
            next(response.iter_raw())
        assert len(http.get(f"http://127.0.0.1:{server.port}/").content) == 200_000  # a new connection's
    assert server.connections == 2


def test_other_schemes_are_refused() -> None:
    with httpx.Client(transport=transport()) as http, pytest.raises(httpx.UnsupportedProtocol):
        http.get("ftp://127.0.0.1/")


# -- TLS --


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tls_with_a_trusted_certificate_and_reuse(serve: Callable[..., Server], tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server = serve(answering(ok(), ok()), server_context)
    trusting = ssl.create_default_context(cafile=str(cert))
    with client(server.port, scheme="https", transport=GraphTransport(trusting)) as graph:
        assert send(graph) == "wamid.A"
        assert send(graph) == "wamid.A"
    assert server.connections == 1


def test_tls_with_an_untrusted_certificate_sends_nothing(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    cert, key = _certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server = serve(answering(ok()), server_context)
    with client(server.port, scheme="https") as graph, pytest.raises(GraphError) as caught:
        send(graph)  # GraphClient's own transport and TLS context: the system's CAs
    assert isinstance(caught.value.__context__, httpx.ConnectError)
    assert server.requests == []
