"""Bench: what read receipts cost. Opening a conversation with an unread message
(``mark_conversation_read``: clear the count, owe the receipt, enqueue the task after commit) with the
channel's switch on and off, then the task's send (``receipts.send``) against the in-process emulator.

Usage: ``python bench/read_receipts.py [N]`` (N conversations per case, default 400). SQLite in a
throw-away var dir, or ``DATABASE_URL``; the task queue is the real one (SqliteHuey, or Redis with
``REDIS_URL``). Reports p50/p95 wall milliseconds and process CPU milliseconds per operation (the
send's CPU includes the in-process emulator answering it), with the load average. Last line: one JSON
object.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from _django import setup

setup()

from chatrk.audit.actions import Actor, Origin  # noqa: E402
from chatrk.core.clock import now  # noqa: E402
from chatrk.inbox.actions import mark_conversation_read  # noqa: E402
from chatrk.inbox.models import Conversation, Message  # noqa: E402
from chatrk.outbound import client, receipts  # noqa: E402
from chatrk.outbound.tests.conftest import World, make_world  # noqa: E402
from emulator.config import EmulatorConfig, Throughput, default_config  # noqa: E402
from emulator.testing import EmulatorServer  # noqa: E402


def unread_conversations(world: World, server: EmulatorServer, count: int, first: int) -> list[Conversation]:
    """Customers who each wrote one message (known to the emulator) that nobody has opened yet."""
    made = []
    for n in range(count):
        wa_id = f"1650{first + n:07d}"
        conversation = world.conversation(wa_id, consent=False)
        message = Message(
            workspace_id=conversation.workspace_id, conversation=conversation,
            contact_id=conversation.contact_id, channel_id=conversation.channel_id,
            direction=Message.Direction.INBOUND, kind="text", wamid=server.control.text(wa_id, "hi")["id"],
            status=Message.Status.RECEIVED, created_at=now() - timedelta(seconds=1),
        )  # fmt: skip
        message.body = "hi"
        message.save()
        Conversation.objects.filter(pk=conversation.pk).update(unread=1)
        conversation.unread = 1
        made.append(conversation)
    return made


def high_throughput() -> EmulatorConfig:
    """The emulator's number at 1,000 messages/s on a real-time clock: mark-read calls count against the
    number's throughput like sends (130429 past it), and so do, in the emulator, the seeded customers'
    messages."""
    config = default_config()
    account = config.accounts[0]
    phone = replace(account.phone_numbers[0], throughput=Throughput.HIGH)
    return replace(config, accounts=(replace(account, phone_numbers=(phone,)),))


def timed(items: list[Conversation], operation: Callable[[Conversation], object]) -> dict[str, float]:
    walls = []
    cpu_start = time.process_time()
    for item in items:
        started = time.perf_counter()
        operation(item)
        walls.append((time.perf_counter() - started) * 1000)
    cpu = (time.process_time() - cpu_start) * 1000 / len(items)
    walls.sort()
    return {
        "p50_ms": round(statistics.median(walls), 3),
        "p95_ms": round(walls[int(len(walls) * 0.95) - 1], 3),
        "cpu_ms_per_op": round(cpu, 3),
    }


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    logging.getLogger("httpx").setLevel(logging.WARNING)
    world = make_world(level="HIGH")
    actor, origin = Actor.user(world.owner.user_id), Origin()

    def open_it(conversation: Conversation) -> object:
        return mark_conversation_read(conversation, actor=actor, origin=origin)

    with EmulatorServer(high_throughput()) as server:
        client.use_transport(server.transport)
        on = unread_conversations(world, server, count, 0)
        off = unread_conversations(world, server, count, count)
        figures = {"open_with_receipt": timed(on, open_it)}
        receipts.set_send_read_receipts(world.channel, False, actor=actor, origin=origin)
        figures["open_switch_off"] = timed(off, open_it)
        receipts.set_send_read_receipts(world.channel, True, actor=actor, origin=origin)
        figures["send_receipt"] = timed(on, lambda c: receipts.send(c.pk))
        sent = len(server.app.emulator.read_by_business)
        client.use_transport(None)
    assert sent == count, f"{sent} of {count} receipts reached the emulator"
    result = {
        "bench": "read_receipts",
        "conversations": count,
        "database": "postgresql" if os.environ.get("DATABASE_URL") else "sqlite",
        "receipts_sent": sent,
        "load_average": os.getloadavg()[0],
        **figures,
    }
    for name, values in figures.items():
        print(f"{name:20} p50 {values['p50_ms']:7.3f} ms  p95 {values['p95_ms']:7.3f} ms  "
              f"CPU {values['cpu_ms_per_op']:7.3f} ms/op")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
