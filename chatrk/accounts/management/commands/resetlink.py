from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatrk.accounts.actions import issue_password_reset
from chatrk.accounts.models import User
from chatrk.audit.actions import Origin


class Command(BaseCommand):
    help = "Print a one-time password-reset link for an account; it still needs the account's second factor."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email__iexact=options["email"].strip(), is_active=True).first()
        if user is None:
            raise CommandError("No active account has this e-mail address.")
        self.stdout.write(issue_password_reset(user.pk, by=None, origin=Origin()))
