from __future__ import annotations

import getpass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.text import slugify

from chatrk.accounts.actions import new_user
from chatrk.accounts.models import User
from chatrk.audit.actions import SYSTEM, record
from chatrk.core.clock import now
from chatrk.core.models import Membership, Workspace
from chatrk.core.roles import Role


class Command(BaseCommand):
    help = (
        "Create a workspace and its owner from the terminal; two-factor enrolment happens at first sign-in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--workspace", required=True, help="the business or workspace name")

    def handle(self, *args: Any, **options: Any) -> None:
        email, name, workspace_name = options["email"], options["name"], options["workspace"]
        slug = slugify(workspace_name)[:50]
        if not slug:
            raise CommandError("The workspace name needs at least one letter or digit.")
        if Workspace.objects.filter(slug=slug).exists():
            raise CommandError(f"A workspace with the address {slug!r} exists already.")
        if User.objects.filter(email__iexact=email).exists():
            raise CommandError("An account with this e-mail address exists already.")
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password again: "):
            raise CommandError("The two passwords differ.")
        try:
            user = new_user(email, name, password, context=[workspace_name])
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        with transaction.atomic():
            user.save()
            workspace = Workspace.objects.create(name=workspace_name, slug=slug, created_at=now())
            Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER, created_at=now())
            record("member.owner_created", actor=SYSTEM, workspace_id=workspace.pk, target=("user", user.pk))
        self.stdout.write(
            f"Created {workspace_name!r} with its owner; sign in to set up two-factor authentication."
        )
