"""Shared set-up for the benchmarks: a throw-away database per engine, migrated, in a child process.

Each benchmark measures SQLite always and PostgreSQL when ``--postgres URL`` (or ``BENCH_POSTGRES_URL``)
is given. Every engine runs in its own process (Django settings are per process) against a fresh
database; the parent prints one JSON object with every figure on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent


def main(script: str, measure: Callable[[], dict[str, Any]], description: str) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL", ""))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _setup_django()
        print(json.dumps(measure()), flush=True)
        return
    figures: dict[str, Any] = {"sqlite": _run_child(script, "")}
    if options.postgres:
        figures["postgresql"] = _run_child(script, _fresh_postgres(options.postgres))
    print(json.dumps(figures))


def _run_child(script: str, database_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="chatrk-bench-") as var:
        env = {**os.environ, "CHATRK_VAR_DIR": var, "DATABASE_URL": database_url,
               "DJANGO_SETTINGS_MODULE": "chatrk.settings", "PYTHONPATH": str(REPO)}  # fmt: skip
        done = subprocess.run(  # noqa: S603 - this interpreter, this script
            [sys.executable, script, "--child"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode:
        raise SystemExit(f"benchmark child failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _fresh_postgres(url: str) -> str:
    import psycopg

    parts = urlsplit(url)
    name = "chatrk_bench_audit"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name}")
        connection.execute(f"CREATE DATABASE {name}")
    return urlunsplit(parts._replace(path=f"/{name}"))


def _setup_django() -> None:
    sys.path.insert(0, str(REPO))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def engine() -> str:
    from django.db import connection

    return str(connection.vendor)
