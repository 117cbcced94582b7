"""``chatrk audit …``: what an auditor runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from chatrk.audit import checkpoints, merkle
from chatrk.audit.guard import remove_guards
from chatrk.audit.tests.conftest import write_events

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command("audit", *args, stdout=out)
    return out.getvalue()


def test_checkpoint_then_verify() -> None:
    write_events(5)
    assert _run("checkpoint").startswith("test.chatrk.example/audit\n5\n")
    assert "no new events" in _run("checkpoint")
    assert _run("checkpoint", "--if-due") == "not due\n"
    assert "audit log OK: 5 events, 1 signed checkpoints" in _run("verify")


def test_verify_fails_naming_the_first_bad_seq() -> None:
    write_events(5)
    _run("checkpoint")
    remove_guards(connection)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 2")
    with pytest.raises(CommandError, match="FAILED: seq 2 is missing"):
        _run("verify")


def test_verify_warns_when_the_guards_are_missing() -> None:
    write_events(2)
    remove_guards(connection)
    errors = StringIO()
    call_command("audit", "verify", stdout=StringIO(), stderr=errors)
    assert "WARNING: append-only guards missing: audit_auditcheckpoint" in errors.getvalue()
    assert _run("guard") == "append-only guards installed\n"
    errors = StringIO()
    call_command("audit", "verify", stdout=StringIO(), stderr=errors)
    assert errors.getvalue() == ""


def test_verify_against_the_exported_file_and_a_pinned_key(checkpoint_sink: Path) -> None:
    write_events(4)
    _run("checkpoint")
    pinned = _run("public-key").strip()
    assert "audit log OK" in _run("verify", "--checkpoints", str(checkpoint_sink), "--verifier-key", pinned)
    stranger = str(checkpoints.VerifierKey("test.chatrk.example/audit", b"\x01" * 32))
    with pytest.raises(CommandError, match="no valid signature"):
        _run("verify", "--checkpoints", str(checkpoint_sink), "--verifier-key", stranger)


def test_prove_inclusion_and_consistency_print_verifiable_json() -> None:
    write_events(3)
    _run("checkpoint")
    write_events(4)
    _run("checkpoint")
    inclusion = json.loads(_run("prove", "inclusion", "5"))
    assert inclusion["tree_size"] == 7
    merkle.verify_inclusion(
        5,
        7,
        merkle.leaf_hash(inclusion["entry"].encode()),
        [bytes.fromhex(node) for node in inclusion["proof"]],
        bytes.fromhex(inclusion["root_hash"]),
    )
    consistency = json.loads(_run("prove", "consistency", "3", "7"))
    merkle.verify_consistency(
        3,
        7,
        bytes.fromhex(consistency["first_root"]),
        bytes.fromhex(consistency["second_root"]),
        [bytes.fromhex(node) for node in consistency["proof"]],
    )
    with pytest.raises(CommandError, match="no event with seq 70"):
        _run("prove", "inclusion", "70")
    with pytest.raises(CommandError, match="no tree of size 8"):
        _run("prove", "consistency", "3", "8")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("real_key_provider")  # the child process unseals with the real one
def test_the_chatrk_command_exits_non_zero_naming_the_seq() -> None:
    """A real ``chatrk audit verify`` process against the committed test database (PostgreSQL)."""
    database = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("the SQLite test database is not reachable through DATABASE_URL")
    write_events(3)
    _run("checkpoint")
    remove_guards(connection)  # committed; the teardown's flush reinstalls them
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET reason = 'nothing to see' WHERE seq = 1")
    url = f"postgresql://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/"
    done = subprocess.run(
        [sys.executable, "-m", "chatrk", "audit", "verify"],
        env={**os.environ, "DATABASE_URL": url + database["NAME"]},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "audit log verification FAILED: seq 1 does not match its leaf hash" in done.stderr
