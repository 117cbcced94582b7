"""Benchmark the emulator: sends accepted per second and webhook deliveries pushed per second.

Runs the emulator under granian on 127.0.0.1 (2 workers by default), a minimal webhook receiver, and a
lean raw-socket load generator with keep-alive connections; a bounded number of requests. Prints one JSON
object on its last line.

    python bench/emulator.py [--requests 40000] [--workers 2] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "BENCH-TOKEN"  # noqa: S105 - a throwaway token for the local emulator
PHONE_IDS = [f"10000000000000{i:02d}" for i in range(20)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(path: Path, receiver_port: int) -> None:
    config: dict[str, Any] = {
        "accounts": [
            {
                "waba_id": "200000000000001",
                "access_tokens": [TOKEN],
                "app_secret": "bench-secret",
                "callback_url": f"http://127.0.0.1:{receiver_port}/webhook",
                "phone_numbers": [
                    {"id": pid, "display_phone_number": f"1555000{i:04d}", "throughput": "HIGH"}
                    for i, pid in enumerate(PHONE_IDS)
                ],
            }
        ],
        # Deliveries and reads happen right away so the webhook figure covers every status.
        "behaviour": {"delivered_after": 0.0, "read_after": 0.0},
    }
    path.write_text(json.dumps(config))


RECEIVER = r"""
import asyncio, sys
count = 0
posts = 0
async def handle(reader, writer):
    global count, posts
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            payload = await reader.readexactly(length) if length else b""
            first = head.split(b"\r\n", 1)[0]
            body = b"ok"
            if first.startswith(b"GET /count"):
                body = f"{count} {posts}".encode()
            elif first.startswith(b"GET"):
                query = first.split(b" ")[1].split(b"?", 1)[-1]
                params = dict(p.split(b"=", 1) for p in query.split(b"&") if b"=" in p)
                body = params.get(b"hub.challenge", b"")
            else:
                posts += 1
                count += payload.count(b'"status":')
            length_header = str(len(body)).encode()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: " + length_header + b"\r\n\r\n" + body)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def send_request(port: int, index: int) -> bytes:
    phone = PHONE_IDS[index % len(PHONE_IDS)]
    # Distinct recipients keep the pair limit (45 burst per user) out of the way; templates are not used
    # because a free-form send is the common hot path. Recipients never wrote in, so each send fails
    # asynchronously with 131047, which still exercises acceptance and a status webhook.
    body = json.dumps(
        {
            "messaging_product": "whatsapp",
            "to": f"+1650{index:07d}",
            "type": "text",
            "text": {"body": f"bench message {index}"},
        }
    ).encode()
    return (
        f"POST /v23.0/{phone}/messages HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        f"authorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


async def load(port: int, requests: int, connections: int, pipeline: int) -> tuple[float, dict[int, int]]:
    counter = iter(range(requests))
    statuses: dict[int, int] = {}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while True:
            batch = [i for _, i in zip(range(pipeline), counter, strict=False)]
            if not batch:
                break
            writer.write(b"".join(send_request(port, i) for i in batch))
            for _ in batch:
                status = await read_response(reader)
                statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - started, statuses


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def tree_cpu_seconds(root: int) -> float:
    """User+system CPU seconds of `root` and its descendants (Linux /proc): a figure that, unlike
    throughput, does not depend on what else the machine is running."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0.0) for pid in tree)


def receiver_count(port: int) -> tuple[int, int]:
    """(status updates received, POSTs received) so far."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /count HTTP/1.1\r\nhost: x\r\n\r\n")
        data = sock.recv(4096)
    updates, posts = data.split(b"\r\n\r\n", 1)[1].split()
    return int(updates), int(posts)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    args = parser.parse_args()
    emulator_port, receiver_port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.json"
        write_config(config, receiver_port)
        try:
            receiver = [sys.executable, "-c", RECEIVER, str(receiver_port)]
            processes.append(subprocess.Popen(receiver))  # noqa: S603 - our own script
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            processes.append(
                subprocess.Popen(  # noqa: S603 - runs this checkout's emulator
                    [
                        sys.executable,
                        "-m",
                        "emulator",
                        "serve",
                        "--port",
                        str(emulator_port),
                        "--config",
                        str(config),
                        "--workers",
                        str(args.workers),
                    ],
                    env=env,
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_for_port(receiver_port)
            wait_for_port(emulator_port)
            time.sleep(1.0)  # let every worker finish importing
            asyncio.run(load(emulator_port, 2000, 8, 1))  # warm-up
            time.sleep(1.0)
            warm_updates, warm_posts = receiver_count(receiver_port)
            cpu_before = tree_cpu_seconds(processes[1].pid)
            elapsed, statuses = asyncio.run(
                load(emulator_port, args.requests, args.connections, args.pipeline)
            )
            accepted = statuses.get(200, 0)
            started = time.perf_counter()
            updates, posts = warm_updates, warm_posts
            while time.perf_counter() < started + args.drain_timeout:
                updates, posts = receiver_count(receiver_port)
                if updates - warm_updates >= accepted:
                    break
                time.sleep(0.05)
            webhook_elapsed = elapsed + (time.perf_counter() - started)
            emulator_cpu = tree_cpu_seconds(processes[1].pid) - cpu_before
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=10)
    result = {
        "workers": args.workers,
        "requests": args.requests,
        "connections": args.connections,
        "http_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "sends_per_second": round(accepted / elapsed, 1),
        "status_updates_delivered": updates - warm_updates,
        "status_updates_per_second": round((updates - warm_updates) / webhook_elapsed, 1),
        "webhook_posts": posts - warm_posts,
        "webhook_deliveries_per_second": round((posts - warm_posts) / webhook_elapsed, 1),
        # CPU the emulator's processes spent per accepted send, webhooks included, and the machine's load:
        # on a shared machine these explain the throughput figures.
        "emulator_cpu_us_per_send": round(emulator_cpu / max(accepted, 1) * 1e6, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
