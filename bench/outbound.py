"""Benchmark the outbound pipeline: sustained messages per second from the outbox to the emulator.

Two runs, each on its own number: the HIGH throughput level (goal 1,000 msg/s with no 130429 answers)
and the default STANDARD level (exactly 80 msg/s). The emulator runs under granian in its own process
and enforces Meta's limits; the senders are real ``chatrk send`` processes sharing one database
(SQLite under a temporary directory, or ``DATABASE_URL``) and its token buckets (or Redis with
``REDIS_URL``). Prints one JSON object on its last line.

    python bench/outbound.py [--high 6000] [--standard 800] [--senders 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "BENCH-TOKEN"  # noqa: S105 - a throwaway token for the local emulator
WABA = "200000000000001"
HIGH_PHONE, STANDARD_PHONE = "1000000000000101", "1000000000000102"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_emulator(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    config = {
        "behaviour": {"time_scale": 1.0, "delivered_after": 86400.0, "read_after": 86400.0},
        "accounts": [
            {
                "waba_id": WABA,
                "access_tokens": [TOKEN],
                "app_secret": "bench-secret",
                "messaging_tier": "TIER_UNLIMITED",
                "phone_numbers": [
                    {"id": HIGH_PHONE, "display_phone_number": "15550000101", "throughput": "HIGH"},
                    {"id": STANDARD_PHONE, "display_phone_number": "15550000102", "throughput": "STANDARD"},
                ],
            }
        ],
    }
    path = directory / "emulator.json"
    path.write_text(json.dumps(config))
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own argv
        [sys.executable, "-m", "emulator", "serve", "--port", str(port), "--config", str(path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with httpx.Client(timeout=1) as client:
                if client.get(f"{url}/_emulator/health").status_code == 200:
                    return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the emulator did not start")


def setup_django(directory: Path) -> None:
    os.environ["CHATRK_VAR_DIR"] = str(directory)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatrk.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def prepare(url: str, phone: str, level: str, messages: int, customers: int) -> Any:
    """A workspace with one channel on the emulator and ``messages`` texts queued to ``customers``."""
    from chatrk.audit.actions import Actor, Origin
    from chatrk.core.clock import now
    from chatrk.core.models import Membership, Workspace
    from chatrk.core.roles import Role
    from chatrk.inbox.actions import ChannelSettings, connect_channel, contact_for, conversation_for
    from chatrk.inbox.models import Channel
    from chatrk.outbound.actions import SendBy, do_enqueue
    from chatrk.whatsapp.messages import TextMessage

    user_model = __import__("django.contrib.auth", fromlist=["get_user_model"]).get_user_model()
    user = user_model.objects.create(email=f"bench-{phone}@example.org", name="Bench", created_at=now())
    workspace = Workspace.objects.create(name=f"Bench {phone}", slug=f"bench-{phone}", created_at=now())
    owner = Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER, created_at=now())
    spec = ChannelSettings(level, phone, WABA, phone, TOKEN, "bench-secret", graph_url=url)
    channel = connect_channel(owner, spec, origin=Origin())
    Channel.objects.filter(pk=channel.pk).update(throughput_level=level)
    by = SendBy(workspace.pk, Actor.user(user.pk), Role.OWNER, user_id=user.pk)
    conversations = []
    for n in range(customers):
        conversation = conversation_for(
            channel, contact_for(workspace.pk, f"1{650 if level == 'HIGH' else 415}555{n:04d}")
        )
        conversation.last_inbound_at = now()
        conversation.save(update_fields=["last_inbound_at"])
        conversations.append(conversation)
    for n in range(messages):
        do_enqueue(by, conversations[n % customers], TextMessage(f"bench message {n}"))
    return channel


def run_senders(count: int, directory: Path, channel_id: int, total: int) -> dict[str, Any]:
    from django.db import connection
    from django.db.models import Max, Min

    from chatrk.outbound.models import OutboxItem

    env = {**os.environ, "CHATRK_VAR_DIR": str(directory), "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "chatrk", "send", "--batch", "200", "--concurrency", "32"]
    started = time.monotonic()
    log = (directory / "senders.log").open("ab")
    senders = [
        subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log)  # noqa: S603
        for _ in range(count)
    ]
    rows = OutboxItem.objects.filter(channel_id=channel_id)
    while rows.filter(state__in=["queued", "sending"]).exists():
        if time.monotonic() - started > 600:
            break
        time.sleep(0.2)
        connection.close()
    wall = time.monotonic() - started
    totals: dict[str, int] = {"code_130429": 0, "code_131056": 0}
    for sender in senders:
        sender.send_signal(signal.SIGTERM)
        out, _ = sender.communicate(timeout=60)
        for line in out.decode().splitlines():
            if line.startswith("{"):
                summary = json.loads(line)
                for key in totals:
                    totals[key] += summary.get(key, 0)
    sent = rows.filter(state="sent")
    span = sent.aggregate(first=Min("finished_at"), last=Max("finished_at"))
    seconds = (span["last"] - span["first"]).total_seconds() if span["first"] else 0.0
    count_sent = sent.count()
    return {
        "messages": total,
        "sent": count_sent,
        "failed": rows.filter(state="failed").count(),
        "seconds": round(seconds, 2),
        "msg_per_s": round((count_sent - 1) / seconds, 1) if seconds > 0 else None,
        "wall_seconds": round(wall, 2),
        **totals,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--high", type=int, default=6000, help="messages at the HIGH level")
    parser.add_argument("--standard", type=int, default=800, help="messages at the STANDARD level")
    parser.add_argument("--senders", type=int, default=2, help="chatrk send processes")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(
        prefix="chatrk-bench-", delete=os.environ.get("BENCH_KEEP") is None
    ) as name:
        directory = Path(name)
        emulator, url = start_emulator(directory)
        try:
            setup_django(directory)
            from django.db import connection

            results: dict[str, Any] = {"database": connection.vendor, "senders": options.senders}
            for level, phone, count in (
                ("HIGH", HIGH_PHONE, options.high),
                ("STANDARD", STANDARD_PHONE, options.standard),
            ):
                started = time.monotonic()
                channel = prepare(url, phone, level, count, customers=max(1, count // 10))
                enqueue_seconds = round(time.monotonic() - started, 2)
                result = run_senders(options.senders, directory, channel.pk, count)
                result["enqueue_seconds"] = enqueue_seconds
                results[level.lower()] = result
                print(level, json.dumps(result), flush=True)
        finally:
            emulator.terminate()
            emulator.wait(timeout=10)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
