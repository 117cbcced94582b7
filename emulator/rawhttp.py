"""A lean HTTP/1.1 client for plain-http webhook callbacks (keep-alive pool, Content-Length bodies).

httpx costs several hundred microseconds of CPU per POST, which capped webhook throughput; this client
does the same job for `http://` callbacks in a fraction of that. HTTPS callbacks still go through httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit


class RawHTTPError(Exception):
    pass


@dataclass(frozen=True)
class RawResponse:
    status_code: int
    text: str


class RawHTTPClient:
    def __init__(self, timeout: float, pool_size: int = 32) -> None:
        self._timeout = timeout
        self._idle: dict[tuple[str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self._pool_size = pool_size

    async def request(
        self,
        method: str,
        url: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> RawResponse:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        lines = [f"{method} {target} HTTP/1.1", f"host: {parts.netloc}", f"content-length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        try:
            return await asyncio.wait_for(self._exchange((host, port), payload), timeout=self._timeout)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
            raise RawHTTPError(type(error).__name__) from error

    async def _exchange(self, key: tuple[str, int], payload: bytes) -> RawResponse:
        idle = self._idle.setdefault(key, [])
        while idle:
            reader, writer = idle.pop()
            try:
                return await self._round_trip(key, reader, writer, payload)
            except (OSError, asyncio.IncompleteReadError):
                continue  # the server closed this kept-alive connection meanwhile; try a fresh one
        reader, writer = await asyncio.open_connection(*key)
        return await self._round_trip(key, reader, writer, payload)

    async def _round_trip(
        self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
    ) -> RawResponse:
        idle = self._idle.setdefault(key, [])
        try:
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            # HTTP/1.0 answers close the connection unless they say keep-alive.
            length, close = 0, head.startswith(b"HTTP/1.0") and b"keep-alive" not in head.lower()
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    text = await _read_chunked(reader)
                    length = -1
            body = await reader.readexactly(length) if length > 0 else b""
            text_value = text if length == -1 else body.decode(errors="replace")
        except BaseException:
            writer.close()
            raise
        if close or len(idle) >= self._pool_size:
            writer.close()
        else:
            idle.append((reader, writer))
        return RawResponse(status, text_value)

    async def aclose(self) -> None:
        writers = [writer for connections in self._idle.values() for _, writer in connections]
        self._idle.clear()
        for writer in writers:
            writer.close()
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _read_chunked(reader: asyncio.StreamReader) -> str:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readline()).strip().split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            return b"".join(chunks).decode(errors="replace")
        chunks.append(await reader.readexactly(size))
        await reader.readline()
