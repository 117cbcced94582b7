"""Bench: the drainer applying stored webhook events into encrypted contacts, conversations, messages.

Events are stored as the endpoint stores them (encrypted raw bodies), then drained in batches; the
rate counts events applied per second. Each customer writes events / customers times (the first is a
new contact and conversation). ``--drainers N`` runs N drainer processes side by side (the design
allows concurrent drainers); ``events_per_cpu_s`` is events applied per CPU-second of all drainers
together, the figure that holds on a shared machine; on PostgreSQL ``db_server_cpu_us_per_event`` is
the CPU of the drainers' database backends (read from /proc, so only with the server on this
machine). Engine from DATABASE_URL. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from pathlib import Path

from _django import setup
from _webhooks import body_for, ensure_postgres_database

ensure_postgres_database()
setup()

from django.db import connection, connections  # noqa: E402

from chatrk.audit.actions import Origin  # noqa: E402
from chatrk.core.clock import now  # noqa: E402
from chatrk.core.models import Workspace  # noqa: E402
from chatrk.core.roles import Role  # noqa: E402
from chatrk.inbox.actions import ChannelSettings, connect_channel  # noqa: E402
from chatrk.inbox.models import Message  # noqa: E402
from chatrk.ingest import receive  # noqa: E402
from chatrk.ingest.actions import default_batch_size, drain  # noqa: E402
from chatrk.ingest.models import RawEvent  # noqa: E402
from chatrk.testing import add_member  # noqa: E402


def bench_workspace() -> Workspace:
    """A fresh workspace (the PostgreSQL bench database outlives runs)."""
    stamp = time.time_ns()
    return Workspace.objects.create(name=f"Bench {stamp}", slug=f"bench-{stamp}", created_at=now())


def drain_and_report(batch: int | None, report: Connection) -> None:
    """One drainer process: drains until nothing is due, then reports its counts, its own CPU time and
    the CPU time of its PostgreSQL backend (the database server's share, read from /proc)."""
    backend = postgres_backend()
    db_started = cpu_of(backend)
    cpu_started = time.process_time()
    result = drain(batch)
    cpu = time.process_time() - cpu_started
    report.send(
        {"applied": result.applied, "poisoned": result.poisoned, "retried": result.retried, "cpu": cpu,
         "db_cpu": cpu_of(backend) - db_started}
    )  # fmt: skip
    connections.close_all()


def postgres_backend() -> int | None:
    """The pid of this process's PostgreSQL backend, if the server runs on this machine."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
    pid = int(row[0]) if row else 0
    return pid if Path(f"/proc/{pid}/stat").exists() else None


def cpu_of(pid: int | None) -> float:
    """User + system CPU seconds used so far by process ``pid`` (0 without one)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=None, help="default: the drainer's (engine's) own")
    parser.add_argument("--drainers", type=int, default=1, help="drainer processes side by side")
    options = parser.parse_args()
    owner = add_member(bench_workspace(), role=Role.OWNER)
    number = str(int(time.time() * 1000))
    spec = ChannelSettings("Bench", number, "102290129340398", "+1 555 078 3881", "EAAG-bench", "secret")
    channel = connect_channel(owner, spec, origin=Origin())
    keys = receive.channel_keys(channel.webhook_key)
    assert keys is not None
    receive.GROUP_COMMIT = False
    for n in range(options.events):
        receive.store(keys, body_for(n, number=number, customer=16505550000 + n % options.customers))
    connections.close_all()  # each drainer process opens its own
    if os.environ.get("REDIS_URL"):
        # Imported on first publish; before forking, so no drainer counts it. Without .pyc files
        # (PYTHONDONTWRITEBYTECODE) each drainer compiled the package: 8 % of its CPU in a 20,000 run.
        import redis  # noqa: F401
    fork = multiprocessing.get_context("fork")
    pipes = [fork.Pipe(duplex=False) for _ in range(options.drainers)]
    drainers = [fork.Process(target=drain_and_report, args=(options.batch, sender)) for _, sender in pipes]
    started = time.perf_counter()
    for process in drainers:
        process.start()
    reports = [receiver.recv() for receiver, _ in pipes]
    elapsed = time.perf_counter() - started
    for process in drainers:
        process.join()
    applied_total = sum(report["applied"] for report in reports)
    cpu = sum(report["cpu"] for report in reports)
    db_cpu = sum(report["db_cpu"] for report in reports)
    applied = Message.objects.filter(channel=channel).count()
    print(
        json.dumps(
            {
                "bench": "drain",
                "engine": "postgresql" if os.environ.get("DATABASE_URL") else "sqlite",
                "events": options.events,
                "customers": options.customers,
                "batch": options.batch or default_batch_size(),
                "drainers": options.drainers,
                "applied": applied_total,
                "poisoned": sum(report["poisoned"] for report in reports),
                "retried": sum(report["retried"] for report in reports),
                "messages": applied,
                "events_per_s": round(applied_total / elapsed),
                "events_per_cpu_s": round(applied_total / cpu),
                "cpu_us_per_event": round(cpu / applied_total * 1e6),
                "db_server_cpu_us_per_event": round(db_cpu / applied_total * 1e6) if db_cpu else None,
                "loadavg_1m_at_end": round(os.getloadavg()[0], 1),
                "seconds": round(elapsed, 2),
                "left": RawEvent.objects.count(),
            }
        )
    )


if __name__ == "__main__":
    main()
