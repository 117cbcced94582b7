"""The crypto tests' own tables are made in the test database only, never in the developer's."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_a_database_less_crypto_file_run_alone_leaves_the_var_directory_alone(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "PYTEST_XDIST_WORKER"}}
    env["CHATRK_VAR_DIR"] = str(tmp_path)
    command = [sys.executable, "-m", "pytest", "-q", "chatrk/crypto/tests/test_ledger.py"]  # fmt: skip
    for _ in range(2):  # the second run errored with "table already exists"
        run = subprocess.run(  # noqa: S603 (our own argv)
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert run.returncode == 0, run.stdout[-2000:]
    database = tmp_path / "chatrk.sqlite3"
    if database.exists():
        with sqlite3.connect(database) as db:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert not [name for name in tables if name.startswith("crypto_test_")]
