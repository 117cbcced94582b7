"""The shared token buckets: the same arithmetic in the database and in Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from chatrk.outbound import buckets
from chatrk.outbound.buckets import BucketStore, DatabaseBuckets, RedisBuckets

START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _redis() -> RedisBuckets:
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    return RedisBuckets(client, prefix=f"test:{uuid.uuid4().hex}:")


@pytest.fixture(params=["database", "redis"])
def store(request: pytest.FixtureRequest, db: None) -> Iterator[BucketStore]:
    if request.param == "database":
        yield DatabaseBuckets()
        return
    redis_store = _redis()
    yield redis_store
    for key in redis_store.client.scan_iter(f"{redis_store.prefix}*"):
        redis_store.client.delete(key)
    redis_store.client.close()


def test_a_burst_then_the_rate(store: BucketStore) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        first = store.take("tp:1", rate=80, burst=16, want=50)
        assert first.granted == 16 and first.wait == pytest.approx(1 / 80)
        assert store.take("tp:1", rate=80, burst=16, want=5).granted == 0
        traveller.shift(timedelta(seconds=0.1001))
        assert store.take("tp:1", rate=80, burst=16, want=50).granted == 8
        traveller.shift(timedelta(seconds=10))
        assert store.take("tp:1", rate=80, burst=16, want=50).granted == 16  # never above the burst


def test_the_pair_bucket_allows_45_then_one_every_six_seconds(store: BucketStore) -> None:
    rate, burst = buckets.PAIR_RATE, buckets.PAIR_BURST
    with time_machine.travel(START, tick=False) as traveller:
        assert store.take("pair:1:2", rate=rate, burst=burst, want=100).granted == 45
        denied = store.take("pair:1:2", rate=rate, burst=burst, want=1)
        assert denied.granted == 0 and denied.wait == pytest.approx(6.0)
        traveller.shift(timedelta(seconds=6))
        assert store.take("pair:1:2", rate=rate, burst=burst, want=5).granted == 1
        assert store.take("pair:1:3", rate=rate, burst=burst, want=1).granted == 1  # another customer


def test_block_empties_a_bucket_for_a_while(store: BucketStore) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        store.block("tp:9", seconds=2.0, rate=80, burst=16)
        blocked = store.take("tp:9", rate=80, burst=16, want=1)
        assert blocked.granted == 0 and blocked.wait == pytest.approx(2.0)
        traveller.shift(timedelta(seconds=2.1001))
        assert store.take("tp:9", rate=80, burst=16, want=100).granted == 8


def test_give_back_returns_unused_tokens(store: BucketStore) -> None:
    with time_machine.travel(START, tick=False):
        assert store.take("tp:5", rate=80, burst=16, want=16).granted == 16
        store.give_back("tp:5", count=4, burst=16)
        assert store.take("tp:5", rate=80, burst=16, want=16).granted == 4


def test_levels() -> None:
    assert buckets.throughput_of("STANDARD") == 80 and buckets.throughput_of("HIGH") == 1000
    assert buckets.throughput_of("whatever") == 80


def test_a_late_round_catches_up_on_the_tokens_owed_up_to_the_cap(store: BucketStore) -> None:
    catch_up = buckets.catch_up_capacity(80)
    assert catch_up == 32 and buckets.catch_up_capacity(1000) == 400  # two fifths of a second's worth
    with time_machine.travel(START, tick=False) as traveller:
        assert store.take("tp:7", rate=80, burst=16, want=100).granted == 16
        traveller.shift(timedelta(seconds=0.3001))  # a round late by 0.2 s: 24 tokens owed, not 16
        assert store.take("tp:7", rate=80, burst=catch_up, want=100).granted == 24
        traveller.shift(timedelta(seconds=2))
        assert store.take("tp:7", rate=80, burst=catch_up, want=100).granted == 32  # never above the cap
        traveller.shift(timedelta(seconds=0.3001))
        assert store.take("tp:7", rate=80, burst=16, want=100).granted == 16  # without catching up: lost


def test_take_many_answers_each_bucket_in_one_call(store: BucketStore) -> None:
    rate, burst = buckets.PAIR_RATE, buckets.PAIR_BURST
    with time_machine.travel(START, tick=False):
        store.block("pair:1:3", seconds=6.0, rate=rate, burst=burst)
        assert store.take("pair:1:2", rate=rate, burst=burst, want=40).granted == 40
        grants = store.take_many([("pair:1:2", 10), ("pair:1:3", 1), ("pair:1:4", 2)], rate=rate, burst=burst)
        assert [g.granted for g in grants] == [5, 0, 2]
        assert grants[0].wait == pytest.approx(6.0) and grants[1].wait == pytest.approx(6.0)
        assert grants[2].wait == 0.0
