"""Bench: the drainer applying stored webhook events into encrypted contacts, conversations, messages.

Events are stored as the endpoint stores them (encrypted raw bodies), then drained in batches; the
rate counts events applied per second. Half the events come from returning customers, half from new
ones. Engine from DATABASE_URL. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from _django import setup
from _webhooks import body_for, ensure_postgres_database

ensure_postgres_database()
setup()

from chatrk.audit.actions import Origin  # noqa: E402
from chatrk.core.clock import now  # noqa: E402
from chatrk.core.models import Workspace  # noqa: E402
from chatrk.core.roles import Role  # noqa: E402
from chatrk.inbox.actions import ChannelSettings, connect_channel  # noqa: E402
from chatrk.inbox.models import Message  # noqa: E402
from chatrk.ingest import receive  # noqa: E402
from chatrk.ingest.actions import drain  # noqa: E402
from chatrk.ingest.models import RawEvent  # noqa: E402
from chatrk.testing import add_member  # noqa: E402


def bench_workspace() -> Workspace:
    """A fresh workspace (the PostgreSQL bench database outlives runs)."""
    stamp = time.time_ns()
    return Workspace.objects.create(name=f"Bench {stamp}", slug=f"bench-{stamp}", created_at=now())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=200)
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
    started, cpu_started = time.perf_counter(), time.process_time()
    result = drain(options.batch)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    applied = Message.objects.filter(channel=channel).count()
    print(
        json.dumps(
            {
                "bench": "drain",
                "engine": "postgresql" if os.environ.get("DATABASE_URL") else "sqlite",
                "events": options.events,
                "customers": options.customers,
                "batch": options.batch,
                "applied": result.applied,
                "poisoned": result.poisoned,
                "messages": applied,
                "events_per_s": round(result.applied / elapsed),
                "events_per_cpu_s": round(result.applied / cpu),
                "loadavg_1m_at_end": round(os.getloadavg()[0], 1),
                "seconds": round(elapsed, 2),
                "left": RawEvent.objects.count(),
            }
        )
    )


if __name__ == "__main__":
    main()
