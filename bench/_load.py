"""A small closed-loop HTTP/1.1 load generator (keep-alive, one request in flight per connection).

Requests are built before the clock starts; each process drives its connections with ``selectors`` and
reports status counts and per-request latencies. Only 127.0.0.1, only for a bounded time.
"""

from __future__ import annotations

import multiprocessing as mp
import selectors
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

type Builder = Callable[[int], bytes]  # request number -> full request bytes


@dataclass
class LoadResult:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.statuses.values())

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def _worker(port: int, connections: int, requests: list[bytes], seconds: float, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    selector = selectors.DefaultSelector()
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    state: dict[socket.socket, list[object]] = {}
    cursor = 0
    deadline = time.perf_counter() + seconds

    def send(sock: socket.socket) -> bool:
        nonlocal cursor
        if cursor >= len(requests) or time.perf_counter() >= deadline:
            return False
        request = requests[cursor]
        cursor += 1
        state[sock] = [time.perf_counter(), b""]
        sock.sendall(request)
        return True

    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        selector.register(sock, selectors.EVENT_READ)
        send(sock)
    started = time.perf_counter()
    open_count = connections
    while open_count:
        for key, _ in selector.select(timeout=1.0):
            ready = key.fileobj
            assert isinstance(ready, socket.socket)
            sock = ready
            chunk = sock.recv(65536)
            entry = state[sock]
            buffer = entry[1] + chunk  # type: ignore[operator]
            entry[1] = buffer
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            head = buffer[:head_end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(buffer) < head_end + 4 + length:
                continue
            statuses[int(head.split(" ", 2)[1])] += 1
            latencies.append(time.perf_counter() - entry[0])  # type: ignore[operator]
            if not send(sock):
                selector.unregister(sock)
                sock.close()
                open_count -= 1
        if time.perf_counter() > deadline + 30:
            break
    queue.put((dict(statuses), latencies, time.perf_counter() - started))


def run(
    port: int, build: Builder, *, seconds: float, processes: int, connections: int, budget: int
) -> LoadResult:
    """Drives ``processes`` x ``connections`` keep-alive connections for ``seconds``, ``budget`` at most."""
    per = budget // processes
    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    workers = [
        mp.Process(
            target=_worker, args=(port, connections, [build(p * per + i) for i in range(per)], seconds, queue)
        )
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    result = LoadResult()
    durations = []
    for _ in workers:
        statuses, latencies, elapsed = queue.get()
        result.statuses.update(statuses)
        result.latencies.extend(latencies)
        durations.append(elapsed)
    for worker in workers:
        worker.join()
    result.seconds = max(durations)
    return result
