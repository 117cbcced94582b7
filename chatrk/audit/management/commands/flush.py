"""``flush`` that can empty the append-only audit tables.

Django's ``flush`` (also run between transactional tests) deletes every row of every table, which the
audit guards refuse. Flushing is the one sanctioned way to wipe the whole database, so this command
lifts the guards for exactly that and puts them back afterwards; an exported checkpoint still shows
that the log was wiped. (An app command of the same name takes precedence over Django's.)
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush
from django.db import connections

from chatrk.audit.guard import install_guards, remove_guards


class Command(flush.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        remove_guards(connection)
        try:
            super().handle(*args, **options)
        finally:
            install_guards(connection)
