"""The erasure ledger read once per block (a drain batch): erasures elsewhere are seen from the next."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

from chatrk.crypto import ledger


def written_by_another_process(key_dir: Path, key_id: int) -> None:
    with (key_dir / "erasures.log").open("a") as handle:
        handle.write(f"{key_id} 2026-12-06T00:00:00+00:00\n")


def test_within_read_once_the_ledger_is_stat_once(key_dir: Path) -> None:
    ledger.record_erasure(11)
    with mock.patch.object(os, "stat", wraps=os.stat) as stat, ledger.read_once():
        for _ in range(5):
            assert ledger.is_erased(11) and not ledger.is_erased(12)
            assert ledger.erased_ids() == {11}
    assert stat.call_count == 1


def test_an_erasure_elsewhere_is_seen_from_the_next_block_and_ones_own_at_once(key_dir: Path) -> None:
    ledger.record_erasure(11)
    with ledger.read_once():
        written_by_another_process(key_dir, 12)
        assert not ledger.is_erased(12)
        ledger.record_erasure(13)
        assert ledger.is_erased(13)
        with ledger.read_once():  # nested: the outer reading stands
            assert not ledger.is_erased(12) and ledger.is_erased(13)
    assert ledger.is_erased(12)
    with ledger.read_once():
        assert ledger.erased_ids() == {11, 12, 13}


def test_outside_a_block_every_use_reads_the_ledger_again(key_dir: Path) -> None:
    ledger.record_erasure(11)
    assert not ledger.is_erased(12)
    written_by_another_process(key_dir, 12)
    assert ledger.is_erased(12)
