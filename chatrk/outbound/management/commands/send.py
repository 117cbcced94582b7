"""``chatrk send``: run one outbox sender until SIGTERM or SIGINT (it finishes the pass it is in)."""

from __future__ import annotations

import json
import logging
import signal
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from chatrk.outbound.sender import Sender


class Command(BaseCommand):
    help = "Send queued WhatsApp messages (run as many as needed, on any number of machines)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=200, help="rows leased per pass")
        parser.add_argument("--concurrency", type=int, default=32, help="calls to WhatsApp in flight")
        parser.add_argument(
            "--lease", type=float, default=120.0, help="seconds a lease (and a send) may take"
        )
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("httpx").setLevel(
            logging.WARNING
        )  # a line per request would cost more than the send
        sender = Sender(
            batch=options["batch"],
            concurrency=options["concurrency"],
            lease=timedelta(seconds=options["lease"]),
        )
        if options["once"]:
            try:
                result = sender.run_once()
            finally:
                sender.close()
            self.stdout.write(f"claimed {result.claimed}, sent {result.sent}, failed {result.failed}")
            return

        def stop(*_: object) -> None:
            sender.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"sender {sender.worker} running (SIGTERM stops it)")
        sender.run()
        totals = sender.totals
        summary = {"worker": sender.worker, "sent": totals.sent, "failed": totals.failed}
        summary |= {"retried": totals.retried, "reaped": totals.reaped}
        summary |= {"code_130429": totals.throttled, "code_131056": totals.pair_limited}
        self.stdout.write(json.dumps(summary))
