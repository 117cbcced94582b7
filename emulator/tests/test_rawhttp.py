"""The lean webhook HTTP client: keep-alive, chunked bodies, HTTP/1.0 close, stale connections, timeouts."""

from __future__ import annotations

import asyncio

import pytest

from emulator.rawhttp import RawHTTPClient, RawHTTPError

ANSWERS = {
    b"/plain": b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    b"/chunked": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    b"/old": b"HTTP/1.0 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy",
    b"/close": b"HTTP/1.1 500 Internal Server Error\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
}


async def serve_once_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers one request per connection and then closes it, without saying so (a stale keep-alive)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ")[1].split(b"?")[0]
        if path == b"/hang":
            await asyncio.sleep(1.0)  # longer than the impatient client's 0.2 s timeout
        writer.write(ANSWERS.get(path, ANSWERS[b"/plain"]))
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def exercise() -> dict[str, object]:
    server = await asyncio.start_server(serve_once_per_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RawHTTPClient(timeout=10.0)  # generous: a busy CI machine must not fail the normal cases
    impatient = RawHTTPClient(timeout=0.2)
    base = f"http://127.0.0.1:{port}"
    results: dict[str, object] = {}
    try:
        first = await client.request("POST", f"{base}/plain", b"{}", {"x-a": "1"})
        # The server closed that connection; the pooled copy is stale and must be replaced transparently.
        second = await client.request("GET", f"{base}/plain", params={"hub.challenge": "42"})
        results["plain"] = (first.status_code, first.text, second.status_code)
        chunked = await client.request("GET", f"{base}/chunked")
        results["chunked"] = (chunked.status_code, chunked.text)
        old = await client.request("GET", f"{base}/old")
        results["old"] = (old.status_code, old.text)
        close = await client.request("GET", f"{base}/close")
        results["close"] = close.status_code
        with pytest.raises(RawHTTPError):
            await impatient.request("GET", f"{base}/hang")
        with pytest.raises(RawHTTPError):
            await client.request("GET", "http://127.0.0.1:1/refused")
    finally:
        await client.aclose()
        await impatient.aclose()
        server.close()
        await server.wait_closed()
    return results


def test_raw_client_handles_the_shapes_webhook_receivers_answer_with() -> None:
    results = asyncio.run(exercise())
    assert results["plain"] == (200, "ok", 200)
    assert results["chunked"] == (200, "abcde")
    assert results["old"] == (503, "busy")
    assert results["close"] == 500
