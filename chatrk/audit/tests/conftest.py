"""Fixtures for the audit tests: a private checkpoint sink, a stand-in key provider, and a helper."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.test import override_settings

from chatrk.audit import checkpoints, sequencer
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


class _StandInKeyProvider:
    """AES-GCM under a per-test key, bound to the context like the real ``seal``.

    The real provider (``chatrk.crypto.system``) may audit its own key generation, which would add
    events these tests do not expect; tests that need the real one ask for ``real_key_provider``.
    """

    def __init__(self) -> None:
        self.key = AESGCM.generate_key(bit_length=256)

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self.key).encrypt(nonce, plaintext, context.encode())

    def unseal(self, blob: bytes, *, context: str) -> bytes:
        return AESGCM(self.key).decrypt(blob[:12], blob[12:], context.encode())


@pytest.fixture
def real_key_provider() -> None:
    """Requesting this fixture keeps ``chatrk.crypto.system`` behind the checkpoint key."""


@pytest.fixture(autouse=True)
def stand_in_key_provider(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "real_key_provider" in request.fixturenames:
        return
    provider = _StandInKeyProvider()
    monkeypatch.setattr(checkpoints, "seal", provider.seal)
    monkeypatch.setattr(checkpoints, "unseal", provider.unseal)


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
