"""A sender in its own process for the reliability tests: ``python -m … DB_NAME [send options]``.

With SQLite the test database is a file whose name the parent passes; PostgreSQL comes through
``DATABASE_URL`` (already the test database's name).
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatrk.settings")
    from django.conf import settings

    name, *options = sys.argv[1:]
    settings.DATABASES["default"]["NAME"] = name
    import django

    django.setup()
    from django.core.management import call_command

    call_command("send", *options)


if __name__ == "__main__":
    main()
