"""``chatrk keys``: inspect and rotate keys.

    chatrk keys status
    chatrk keys rotate --kek
    chatrk keys rotate --workspace SLUG [--batch-size N]
    chatrk keys finalise-erasures

Rotation is online and resumable: run the same command again after an interruption.
"""

from __future__ import annotations

import sys
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from chatrk.audit.actions import SYSTEM
from chatrk.core.models import Workspace
from chatrk.crypto import rotation
from chatrk.crypto.errors import CryptoError
from chatrk.crypto.models import DataKey, KeyKind, RotationJob
from chatrk.crypto.providers import get_provider


class ProgressBar:
    """A plain stderr progress line, redrawn in place at most five times a second."""

    def __init__(self, label: str, *, width: int = 30) -> None:
        self.label, self.width, self.started = label, width, time.monotonic()
        self.last_drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last_drawn < 0.2:
            return
        self.last_drawn = now
        share = done / total if total else 1.0
        filled = int(share * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {done:,}/{total:,} {share:6.1%} {now - self.started:6.1f}s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


class Command(BaseCommand):
    help = "Show key status and rotate the KEK or a workspace key (online, resumable)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("status", help="KEK versions, data keys by kind and state, unfinished rotations")
        rotate = sub.add_parser(
            "rotate", help="rotate the KEK or one workspace's key, then retire the old one"
        )
        target = rotate.add_mutually_exclusive_group(required=True)
        target.add_argument("--kek", action="store_true")
        target.add_argument("--workspace", metavar="SLUG")
        rotate.add_argument("--batch-size", type=int, default=2000)
        sub.add_parser(
            "finalise-erasures",
            help="rotate every workspace key that wrapped a shredded key, then the KEK (see docs/keys.md)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "status":
                self._status()
            elif options["action"] == "finalise-erasures":
                self._finalise()
            elif options["kek"]:
                self._rotate_kek(options["batch_size"])
            else:
                self._rotate_workspace(options["workspace"], options["batch_size"])
        except CryptoError as error:
            raise CommandError(str(error)) from None

    def _status(self) -> None:
        for version in get_provider().versions():
            self.stdout.write(f"KEK {version.id}: {version.state}")
        counts = DataKey.objects.values("kind", "state").annotate(n=Count("pk")).order_by("kind", "state")
        for row in counts:
            self.stdout.write(f"{row['kind']} keys {row['state']}: {row['n']}")
        pending = rotation.workspaces_with_unfinalised_erasures()
        self.stdout.write(f"workspaces with erasures not yet final: {len(pending)}")
        for job in RotationJob.objects.filter(finished_at__isnull=True):
            self.stdout.write(f"unfinished rotation {job.pk} of {job.target} ({job.done:,} done)")

    def _finalise(self) -> None:
        rotated = rotation.finalise_erasures(actor=SYSTEM, progress_for=ProgressBar)
        self.stdout.write(f"erasures final: {len(rotated)} workspace key(s) and the KEK rotated")

    def _rotate_kek(self, batch_size: int) -> None:
        job = rotation.rotate_kek(actor=SYSTEM, batch_size=batch_size, progress=ProgressBar("rewrap"))
        self.stdout.write(f"KEK rotated to {job.new_key}; old versions retired")

    def _rotate_workspace(self, slug: str, batch_size: int) -> None:
        workspace = Workspace.objects.filter(slug=slug).first()
        if workspace is None:
            raise CommandError(f"no workspace {slug!r}")
        job = rotation.rotate_workspace(
            workspace.pk, actor=SYSTEM, batch_size=batch_size, progress=ProgressBar("re-encrypt")
        )
        version = DataKey.objects.get(pk=int(job.new_key)).version
        self.stdout.write(
            f"workspace {slug} now on key v{version} ({KeyKind.WORKSPACE}); old versions retired"
        )
