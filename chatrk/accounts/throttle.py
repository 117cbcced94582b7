"""Sign-in throttling with growing delays (NIST SP 800-63B §3.2.2, ASVS V6.3.1).

Failures are counted per *lane*: the account as seen from one trusted device, the account as seen
from anywhere else, and the source address. An attacker who hammers an account only slows the
"anywhere else" lane, so the owner signing in from a device that signed in before is not locked out;
every delay is temporary and capped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from chatrk.accounts.models import LoginThrottle


@dataclass(frozen=True, slots=True)
class Policy:
    free_failures: int
    cap: timedelta
    forget_after: timedelta = timedelta(hours=24)

    def delay(self, failures: int) -> timedelta:
        if failures < self.free_failures:
            return timedelta(0)
        return min(timedelta(seconds=2 ** (failures - self.free_failures + 1)), self.cap)


ACCOUNT = Policy(free_failures=5, cap=timedelta(minutes=15))
SECOND_FACTOR = Policy(free_failures=5, cap=timedelta(minutes=15))
SOURCE = Policy(free_failures=30, cap=timedelta(minutes=15))


@dataclass(frozen=True, slots=True)
class Lane:
    key: str
    policy: Policy


def retry_after(lanes: list[Lane], at: datetime) -> int:
    """Seconds until every lane allows another attempt (0: go ahead)."""
    blocked = LoginThrottle.objects.filter(key__in=[lane.key for lane in lanes], blocked_until__gt=at)
    latest = max((row.blocked_until for row in blocked if row.blocked_until), default=None)
    return 0 if latest is None else max(1, int((latest - at).total_seconds() + 0.999))


def register_failure(lanes: list[Lane], at: datetime) -> None:
    # The row lock serialises concurrent failures on PostgreSQL; SQLite transactions are IMMEDIATE.
    with transaction.atomic():
        for lane in lanes:
            row, _ = LoginThrottle.objects.select_for_update().get_or_create(key=lane.key)
            stale = row.last_failure_at and at - row.last_failure_at > lane.policy.forget_after
            row.failures = 1 if stale else row.failures + 1
            row.last_failure_at = at
            row.blocked_until = at + lane.policy.delay(row.failures)
            row.save()


def clear(lanes: list[Lane]) -> None:
    LoginThrottle.objects.filter(key__in=[lane.key for lane in lanes]).delete()
