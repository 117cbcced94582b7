"""``chatrk drain``: apply stored webhook events (once, or as a loop beside ``chatrk worker``)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from chatrk.ingest import actions, media


class Command(BaseCommand):
    help = "Apply stored WhatsApp webhook events to the inbox, then fetch due media."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep draining until interrupted")
        parser.add_argument(
            "--batch",
            type=int,
            default=None,
            help="events per batch (default: 500 on PostgreSQL, 200 on SQLite)",
        )
        parser.add_argument("--idle", type=float, default=0.2, help="seconds to wait when nothing is due")

    def handle(self, *args: Any, **options: Any) -> None:
        sweep_at = 0.0
        while True:
            result = actions.drain(options["batch"])
            if time.monotonic() >= sweep_at:
                for media_id in media.due():
                    media.fetch(media_id)
                actions.expire_orphans()
                sweep_at = time.monotonic() + 30
            if options["verbosity"] > 1 or not options["loop"]:
                self.stdout.write(
                    f"applied {result.applied}, poisoned {result.poisoned}, retrying {result.retried}"
                )
            if not options["loop"]:
                return
            if result.claimed == 0:
                time.sleep(options["idle"])
