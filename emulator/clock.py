"""Emulated time: wall time scaled by a factor, plus manual jumps, so tests never sleep."""

from __future__ import annotations

import threading
import time


class Clock:
    """`now()` returns emulated unix seconds.

    Emulated time runs `scale` times faster than the wall clock from `start`; `advance()` jumps
    forward instantly. A scale of 0 freezes time so tests move it only with `advance()`.
    """

    def __init__(self, scale: float = 1.0, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._scale = scale
        self._origin_wall = time.monotonic()
        self._origin_emulated = time.time() if start is None else start
        self._offset = 0.0

    @property
    def scale(self) -> float:
        return self._scale

    def now(self) -> float:
        elapsed = time.monotonic() - self._origin_wall
        return self._origin_emulated + elapsed * self._scale + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def wall_seconds_until(self, emulated_at: float) -> float:
        """How long to really wait until emulated time reaches `emulated_at` (inf when frozen)."""
        remaining = emulated_at - self.now()
        if remaining <= 0:
            return 0.0
        if self._scale <= 0:
            return float("inf")
        return remaining / self._scale
