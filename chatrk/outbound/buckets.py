"""Token buckets shared by every sender on every machine: in the database, or in Redis.

A bucket has a ``rate`` (tokens per second) and a ``burst`` (its capacity). ``take(key, want)`` grants
up to ``want`` whole tokens at once, so a sender pays one round trip for a batch, not one per message;
when none are left it says how long to wait. ``block(key, seconds)`` empties a bucket for a while: the
sender calls it when Meta answers 130429 (number too fast) or 131056 (pair too fast).

Both stores keep the same state (tokens, last refill, blocked-until) and the same arithmetic, so the
behaviour does not depend on which one runs. Time comes from :func:`chatrk.core.clock.now`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction

from chatrk.core.clock import now
from chatrk.outbound.models import RateBucket
from chatrk.outbound.sql import update_rows

# REFERENCE.md §5: 80 msg/s per number by default, 1,000 msg/s at the high level.
THROUGHPUT = {"STANDARD": 80.0, "HIGH": 1000.0}
# The pair limit: 1 message every 6 s to one customer, with bursts of up to 45 borrowed from later.
PAIR_RATE = 1 / 6
PAIR_BURST = 45.0
# Seconds of tokens a waiting sender may catch up on after a late round (``catch_up_capacity``).
CATCH_UP_SECONDS = 0.4


@dataclass(frozen=True, slots=True)
class Grant:
    granted: int
    wait: float  # seconds until the next token when fewer than wanted were granted, else 0


class BucketStore(Protocol):
    def take(self, key: str, *, rate: float, burst: float, want: int) -> Grant: ...

    def take_many(self, wants: list[tuple[str, int]], *, rate: float, burst: float) -> list[Grant]:
        """Several buckets of one kind (e.g. every customer in a batch) in one round trip."""
        ...

    def block(self, key: str, *, seconds: float, rate: float, burst: float) -> None: ...

    def give_back(self, key: str, *, count: int, burst: float) -> None: ...


def _refill(tokens: float, updated_at: float, at: float, *, rate: float, burst: float) -> float:
    return min(burst, tokens + max(0.0, at - updated_at) * rate)


def _grant(tokens: float, blocked_until: float, at: float, *, rate: float, want: int) -> tuple[int, float]:
    """(granted, wait) for a refilled bucket."""
    if at < blocked_until:
        return 0, blocked_until - at
    granted = min(want, math.floor(tokens))
    if granted == want:
        return granted, 0.0
    return granted, (1.0 - (tokens - granted)) / rate  # until the next token, for the rows left over


def throughput_key(channel_id: int) -> str:
    return f"tp:{channel_id}"


def pair_key(channel_id: int, contact_id: int) -> str:
    return f"pair:{channel_id}:{contact_id}"


def throughput_of(level: str) -> float:
    return THROUGHPUT.get(level.upper(), THROUGHPUT["STANDARD"])


def throughput_burst(rate: float) -> float:
    """A fifth of a second's worth: sustained rate exact, and never a burst Meta's own bucket would mind."""
    return max(1.0, rate / 5)


def catch_up_capacity(rate: float) -> float:
    """What a sender that waits for a number's tokens may take at once after a late round: the tokens
    owed since its last take, up to two fifths of a second's worth. Tokens over the burst are otherwise
    lost when a round comes late (a slow machine), and the sustained rate with them. The cap keeps the
    tokens taken over any span of t seconds within 0.4 * rate + rate * t, inside WhatsApp's bucket
    (one second's worth, refilled at the rate) with 0.6 s to spare for calls that arrive bunched."""
    return max(throughput_burst(rate), rate * CATCH_UP_SECONDS)


class DatabaseBuckets:
    """One ``RateBucket`` row per bucket, read and written under a row lock in one short transaction."""

    def take(self, key: str, *, rate: float, burst: float, want: int) -> Grant:
        return self.take_many([(key, want)], rate=rate, burst=burst)[0]

    def take_many(self, wants: list[tuple[str, int]], *, rate: float, burst: float) -> list[Grant]:
        at = now().timestamp()
        keys = sorted({key for key, _ in wants})  # one lock order for every sender: no deadlocks
        grants: list[Grant] = []
        with transaction.atomic():
            RateBucket.objects.bulk_create(
                [RateBucket(key=key, tokens=burst, updated_at=at) for key in keys], ignore_conflicts=True
            )
            locked = RateBucket.objects.select_for_update().filter(key__in=keys).order_by("key")
            rows = {row.key: row for row in locked}
            for key, want in wants:
                row = rows[key]
                tokens = _refill(row.tokens, row.updated_at, at, rate=rate, burst=burst)
                granted, wait = _grant(tokens, row.blocked_until, at, rate=rate, want=want)
                row.tokens, row.updated_at = tokens - granted, max(at, row.updated_at)
                grants.append(Grant(granted, wait))
            update_rows(RateBucket, rows.values(), ["tokens", "updated_at"])
        return grants

    def block(self, key: str, *, seconds: float, rate: float, burst: float) -> None:
        at = now().timestamp()
        with transaction.atomic():
            row = self._locked(key, burst, at)
            row.tokens, row.updated_at = 0.0, at + seconds
            row.blocked_until = max(row.blocked_until, at + seconds)
            row.save(update_fields=["tokens", "updated_at", "blocked_until"])

    def give_back(self, key: str, *, count: int, burst: float) -> None:
        with transaction.atomic():
            row = RateBucket.objects.select_for_update().filter(key=key).first()
            if row is not None:
                row.tokens = min(burst, row.tokens + count)
                row.save(update_fields=["tokens"])

    @staticmethod
    def _locked(key: str, burst: float, at: float) -> RateBucket:
        RateBucket.objects.get_or_create(key=key, defaults={"tokens": burst, "updated_at": at})
        return RateBucket.objects.select_for_update().get(key=key)


# KEYS: the buckets; ARGV: now, rate, burst, then one want per bucket. Returns granted, wait * 1e6 per
# bucket, flat: a batch's customers cost one command, not one script call each.
_TAKE = """
local now = tonumber(ARGV[1]); local rate = tonumber(ARGV[2]); local burst = tonumber(ARGV[3])
local out = {}
for i, key in ipairs(KEYS) do
  local want = tonumber(ARGV[3 + i])
  local b = redis.call('HMGET', key, 'tokens', 'updated_at', 'blocked_until')
  local tokens = tonumber(b[1]) or burst
  local updated = tonumber(b[2]) or now
  local blocked = tonumber(b[3]) or 0
  if now > updated then tokens = math.min(burst, tokens + (now - updated) * rate) end
  local granted = 0
  local wait = 0
  if now < blocked then
    wait = blocked - now
  else
    granted = math.max(0, math.min(want, math.floor(tokens)))
    if granted < want then wait = (1 - (tokens - granted)) / rate end
  end
  tokens = tokens - granted
  redis.call('HSET', key, 'tokens', tostring(tokens), 'updated_at', tostring(math.max(now, updated)),
    'blocked_until', tostring(blocked))
  redis.call('EXPIRE', key, 86400)
  out[2 * i - 1] = granted
  out[2 * i] = math.floor(wait * 1000000)
end
return out
"""

# KEYS[1] bucket; ARGV: now, seconds.
_BLOCK = """
local now = tonumber(ARGV[1]); local until_ = now + tonumber(ARGV[2])
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked_until')) or 0
redis.call('HSET', KEYS[1], 'tokens', '0', 'updated_at', tostring(until_),
  'blocked_until', tostring(math.max(blocked, until_)))
redis.call('EXPIRE', KEYS[1], 86400)
return 1
"""

# KEYS[1] bucket; ARGV: count, burst.
_GIVE_BACK = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens then
  redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(tonumber(ARGV[2]), tokens + tonumber(ARGV[1]))))
end
return 1
"""


class RedisBuckets:
    """The same buckets as hashes in Redis, each read-modify-write in one Lua script (atomic)."""

    def __init__(self, client: Any, prefix: str = "chatrk:bucket:") -> None:
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(_TAKE)
        self._block = client.register_script(_BLOCK)
        self._give_back = client.register_script(_GIVE_BACK)

    def take(self, key: str, *, rate: float, burst: float, want: int) -> Grant:
        return self.take_many([(key, want)], rate=rate, burst=burst)[0]

    def take_many(self, wants: list[tuple[str, int]], *, rate: float, burst: float) -> list[Grant]:
        if not wants:
            return []
        keys = [self.prefix + key for key, _ in wants]
        answer = self._take(
            keys=keys, args=[repr(now().timestamp()), repr(rate), repr(burst), *(w for _, w in wants)]
        )
        return [
            Grant(int(granted), int(wait_us) / 1_000_000) for granted, wait_us in itertools.batched(answer, 2)
        ]

    def block(self, key: str, *, seconds: float, rate: float, burst: float) -> None:
        self._block(keys=[self.prefix + key], args=[repr(now().timestamp()), repr(seconds)])

    def give_back(self, key: str, *, count: int, burst: float) -> None:
        self._give_back(keys=[self.prefix + key], args=[count, repr(burst)])


@cache
def _redis_store(url: str) -> RedisBuckets:
    import redis

    return RedisBuckets(redis.Redis.from_url(url))


def default_store() -> BucketStore:
    """Redis when ``REDIS_URL`` is set (many machines, no database writes for pacing), else the database."""
    if settings.REDIS_URL:
        return _redis_store(settings.REDIS_URL)
    return DatabaseBuckets()
