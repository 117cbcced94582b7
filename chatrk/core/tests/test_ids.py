import pytest

from chatrk.core.ids import new_id


def test_ids_are_positive_63_bit_and_strictly_increasing() -> None:
    ids = [new_id() for _ in range(50_000)]
    assert ids == sorted(set(ids))
    assert ids[0] > 0
    assert ids[-1] < 2**63


def test_ids_are_time_ordered_across_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from chatrk.core import ids

    monkeypatch.setattr(ids, "_last_issued", 0)  # ids issued under time-machine may lie in the future
    first = new_id()
    time.sleep(0.003)
    assert (new_id() >> 22) > (first >> 22)
