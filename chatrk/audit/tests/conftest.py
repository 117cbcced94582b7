"""Fixtures for the audit tests: a private checkpoint sink and a small helper to write events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from chatrk.audit import sequencer
from chatrk.audit.actions import Actor, Origin, record
from chatrk.audit.models import AuditEvent
from chatrk.audit.sequencer import sequence_pending


@pytest.fixture(autouse=True)
def checkpoint_sink(tmp_path: Path) -> Iterator[Path]:
    sink = tmp_path / "checkpoints.jsonl"
    with override_settings(AUDIT_SINK=f"file:{sink}", AUDIT_LOG_ORIGIN="test.chatrk.example/audit"):
        yield sink


@pytest.fixture(autouse=True)
def sequence_on_every_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside tests, a process sequences at most every few milliseconds; here every commit does."""
    monkeypatch.setattr(sequencer, "SEQUENCE_INTERVAL", 0.0)


def write_events(count: int, *, workspace_id: int | None = 1) -> list[AuditEvent]:
    """Record ``count`` events and sequence them (tests run in a transaction: no after-commit hook)."""
    events = [
        record(
            "authn_login_success" if index % 2 else "authn_login_fail",
            actor=Actor.user(index),
            workspace_id=workspace_id,
            target=("user", index),
            origin=Origin(ip=f"203.0.113.{index % 250}", user_agent="Firefox"),
            details={"method": "password", "attempt": index},
        )
        for index in range(count)
    ]
    sequence_pending()
    return [AuditEvent.objects.get(pk=event.pk) for event in events]
