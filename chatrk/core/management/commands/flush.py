"""``flush`` that can empty the append-only tables (the audit log and the consent ledger).

Django's ``flush`` (also run between transactional tests) deletes every row of every table, which the
append-only guards refuse. Flushing is the one sanctioned way to wipe the whole database, so this
command lifts the guards for exactly that and puts them back afterwards; an exported audit checkpoint
still shows that the log was wiped. (An app command of the same name takes precedence over Django's.)
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush
from django.db import connections
from django.utils.module_loading import import_string

# Each module offers install_guards(connection) and remove_guards(connection).
APPEND_ONLY_GUARDS = ("chatrk.audit.guard", "chatrk.consent.guard")


class Command(flush.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        for module in APPEND_ONLY_GUARDS:
            import_string(f"{module}.remove_guards")(connection)
        try:
            super().handle(*args, **options)
        finally:
            for module in APPEND_ONLY_GUARDS:
                import_string(f"{module}.install_guards")(connection)
