"""Bench: webhook ingest under granian: events/s accepted (signed, durable, deduplicated), p50/p99,
next to the same server's bare signed-200 rate, and the server's RSS as events accumulate.

Engine from DATABASE_URL (SQLite in a throw-away var dir otherwise). The load generator runs on the same
machine (127.0.0.1), closed loop, bounded in time. Last line: one JSON object.

    python bench/ingest.py [--seconds 10] [--events 1000000 for the memory run]

The memory run ingests ``--events`` in rounds of up to 400,000 and drains each round in this process
(the drainer), sampling the server's and the drainer's RSS after each: start, peak and end are reported.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from _django import rss_bytes, setup
from _webhooks import body_for, ensure_postgres_database

ROOT = Path(__file__).resolve().parent.parent


ensure_postgres_database()
setup()

from _load import run  # noqa: E402
from django.db import connection  # noqa: E402

from chatrk.audit.actions import Origin  # noqa: E402
from chatrk.core.clock import now  # noqa: E402
from chatrk.core.models import Workspace  # noqa: E402
from chatrk.core.roles import Role  # noqa: E402
from chatrk.inbox.actions import ChannelSettings, connect_channel  # noqa: E402
from chatrk.ingest.actions import drain  # noqa: E402
from chatrk.ingest.models import RawEvent  # noqa: E402
from chatrk.testing import add_member  # noqa: E402

SECRET = b"bench-app-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def body(n: int) -> bytes:
    return body_for(n, number="106540352242922", customer=16505551234)


def request(path: str, payload: bytes) -> bytes:
    signature = "sha256=" + hmac.new(SECRET, payload, hashlib.sha256).hexdigest()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def rss_of_tree(pid: int) -> int:
    """Resident bytes of the server and its worker processes."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        try:
            pages = int(Path(f"/proc/{each}/statm").read_text().split()[1])
        except FileNotFoundError:
            continue
        total += pages * os.sysconf("SC_PAGE_SIZE")
    return total


def cpu_of_tree(pid: int) -> float:
    """CPU seconds (user + system) used so far by the server and its worker processes.

    Per-request CPU is the figure that holds on a loaded machine, where wall-clock rates do not.
    """
    ticks = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def database_backends_cpu() -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend of the bench database but this process's
    own (the server's connections; only with PostgreSQL on this machine). Empty on SQLite."""
    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        pids = [int(row[0]) for row in cursor.fetchall()]
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def cpu_since(before: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in database_backends_cpu().items())


def mib_summary(samples: list[int]) -> list[float]:
    return [round(value / 2**20, 1) for value in (samples[0], max(samples), samples[-1])]


def bench_workspace() -> Workspace:
    """A fresh workspace (the PostgreSQL bench database outlives runs)."""
    stamp = time.time_ns()
    return Workspace.objects.create(name=f"Bench {stamp}", slug=f"bench-{stamp}", created_at=now())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "8")))
    parser.add_argument("--connections", type=int, default=16, help="per load process")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument(
        "--events", type=int, default=0, help="memory run: ingest and drain this many events in rounds"
    )
    parser.add_argument("--round", type=int, default=400_000, help="memory run: events per round")
    options = parser.parse_args()
    load_at_start = round(os.getloadavg()[0], 1)

    owner = add_member(bench_workspace(), role=Role.OWNER)
    spec = ChannelSettings(
        "Bench",
        str(int(time.time() * 1000)),
        "102290129340398",
        "+1 555 078 3881",
        "EAAG-bench",
        SECRET.decode(),
    )
    channel = connect_channel(owner, spec, origin=Origin())
    RawEvent.objects.all().delete()

    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}",
    }
    server = subprocess.Popen(  # noqa: S603 (our own argv)
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--workers",
            str(options.workers),
            "--blocking-threads",
            str(options.threads),
            "--no-ws",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "_ingest_app:application",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"the server exited with {server.returncode} before it listened")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        seconds, processes, connections = options.seconds, options.processes, options.connections
        budget = 400_000
        key = channel.webhook_key
        run(
            port,
            lambda n: request(f"/webhooks/bare/{key}", body(n)),
            seconds=1.0,
            processes=1,
            connections=4,
            budget=4000,
        )
        run(
            port,
            lambda n: request(f"/webhooks/whatsapp/{key}", body(10**9 + n)),
            seconds=1.0,
            processes=1,
            connections=4,
            budget=4000,
        )
        cpu_before_bare = cpu_of_tree(server.pid)
        bare = run(
            port,
            lambda n: request(f"/webhooks/bare/{key}", body(n)),
            budget=budget,
            seconds=seconds,
            processes=processes,
            connections=connections,
        )
        bare_cpu = cpu_of_tree(server.pid) - cpu_before_bare
        before = RawEvent.objects.count()
        cpu_before_ingest = cpu_of_tree(server.pid)
        backends_before = database_backends_cpu()
        rss_start = rss_of_tree(server.pid)
        ingest = run(
            port,
            lambda n: request(f"/webhooks/whatsapp/{key}", body(n)),
            budget=budget,
            seconds=seconds,
            processes=processes,
            connections=connections,
        )
        ingest_cpu = cpu_of_tree(server.pid) - cpu_before_ingest
        ingest_db_cpu = cpu_since(backends_before)
        stored = RawEvent.objects.count() - before
        # Meta's redeliveries: the same bytes again insert nothing. Only bodies the first load process
        # surely sent (about half of those accepted) are resent, so every one is a true redelivery.
        dup = run(
            port,
            lambda n: request(f"/webhooks/whatsapp/{key}", body(n)),
            seconds=2.0,
            processes=1,
            connections=4,
            budget=max(1, min(2000, ingest.statuses.get(200, 0) // (2 * processes))),
        )
        duplicates_stored = RawEvent.objects.count() - before - stored
        rss_samples = [rss_start, rss_of_tree(server.pid)]
        drainer_samples = [rss_bytes()]
        memory_events = ingest.statuses.get(200, 0)
        drained = 0
        offset = 2 * 10**9
        if options.events:  # the memory run: ingest in rounds, drain each round in this process
            drained += drain(500).applied
            drainer_samples.append(rss_bytes())
        while memory_events < options.events:
            start = offset

            def build(n: int, start: int = start) -> bytes:
                return request(f"/webhooks/whatsapp/{key}", body(start + n))

            size = min(options.round, options.events - memory_events + processes)
            rounds = run(port, build, budget=size, seconds=60.0, processes=processes, connections=connections)
            offset += size
            memory_events += rounds.statuses.get(200, 0)
            rss_samples.append(rss_of_tree(server.pid))
            drained += drain(500).applied
            drainer_samples.append(rss_bytes())
            print(
                f"{memory_events} events ingested, {drained} drained; RSS server"
                f" {rss_samples[-1] / 2**20:.0f} MiB, drainer {drainer_samples[-1] / 2**20:.0f} MiB",
                flush=True,
            )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)

    accepted = ingest.statuses.get(200, 0)
    result = {
        "bench": "ingest",
        "engine": "postgresql" if os.environ.get("DATABASE_URL") else "sqlite",
        "cores": os.cpu_count(),
        "loadavg_1m_at_start": load_at_start,
        "loadavg_1m_at_end": round(os.getloadavg()[0], 1),
        "server": f"granian wsgi, {options.workers} workers x {options.threads} threads",
        "load": f"{options.processes} processes x {options.connections} keep-alive connections, same machine",
        "bare_signed_200_per_s": round(bare.statuses.get(200, 0) / bare.seconds),
        "bare_p50_ms": round(bare.percentile(0.5) * 1000, 2),
        "bare_p99_ms": round(bare.percentile(0.99) * 1000, 2),
        "ingest_accepted_per_s": round(accepted / ingest.seconds),
        "ingest_p50_ms": round(ingest.percentile(0.5) * 1000, 2),
        "ingest_p99_ms": round(ingest.percentile(0.99) * 1000, 2),
        "ratio_to_bare": round(
            (accepted / ingest.seconds) / max(1, bare.statuses.get(200, 0) / bare.seconds), 3
        ),
        "bare_server_cpu_us_per_request": round(bare_cpu / max(1, bare.count) * 1e6),
        "ingest_server_cpu_us_per_request": round(ingest_cpu / max(1, ingest.count) * 1e6),
        "ingest_db_server_cpu_us_per_request": round(ingest_db_cpu / max(1, ingest.count) * 1e6),
        "accepted": accepted,
        "stored_rows": stored,
        "non_200": {str(k): v for k, v in ingest.statuses.items() if k != 200},
        "redeliveries_sent": dup.count,
        "redeliveries_stored": duplicates_stored,
        "rss_mib_samples": [round(sample / 2**20, 1) for sample in rss_samples],
        "memory_run_events": memory_events,
        "memory_run_drained": drained,
        "server_rss_mib_start_peak_end": mib_summary(rss_samples),
        "drainer_rss_mib_start_peak_end": mib_summary(drainer_samples),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
