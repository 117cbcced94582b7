from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from chatrk.accounts.actions import create_setup_link
from chatrk.accounts.models import User


class Command(BaseCommand):
    help = "Print a fresh one-time link that creates the first owner (only while there is none)."

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.exists():
            raise CommandError("An owner exists already: invite people from the Members page instead.")
        self.stdout.write(create_setup_link())
