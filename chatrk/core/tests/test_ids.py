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


def test_a_millisecond_draws_one_random_start_and_counts_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from chatrk.core import ids

    draws = []

    def randbits(bits: int) -> int:
        draws.append(bits)
        return 1_000 * len(draws)

    monkeypatch.setattr(ids, "_last_issued", 0)
    monkeypatch.setattr("chatrk.core.ids.secrets.randbits", randbits)
    moment = [(ids._EPOCH_MS + 7) * 1_000_000]
    monkeypatch.setattr("chatrk.core.ids.time.time_ns", lambda: moment[0])
    first = [new_id() for _ in range(3)]
    moment[0] += 1_000_000
    second = [new_id() for _ in range(2)]
    assert draws == [21, 21]  # once per millisecond, in the lower half of the 22-bit sequence
    assert first == [(7 << 22) | 1_000, (7 << 22) | 1_001, (7 << 22) | 1_002]
    assert second == [(8 << 22) | 2_000, (8 << 22) | 2_001]
