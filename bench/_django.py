"""Shared set-up for the benches: Django on a throw-away var dir (SQLite file, or DATABASE_URL)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def setup() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("CHATRK_VAR_DIR", tempfile.mkdtemp(prefix="chatrk-bench-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "chatrk.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from chatrk.crypto.tests.models import TEST_MODELS

    call_command("migrate", verbosity=0)
    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in TEST_MODELS:
            if model._meta.db_table not in existing:
                editor.create_model(model)


def rss_bytes() -> int:
    """Current resident set size (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")
