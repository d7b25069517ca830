"""Per-address token buckets for anonymous inquiries (in-process; each server process counts its own)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from tickets.errors import RateLimited

_SWEEP_EVERY = 1024


class RateLimiter:
    def __init__(self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._calls = 0

    def hit(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                retry = math.ceil((1.0 - tokens) / self.rate)
                raise RateLimited(
                    f"too many anonymous inquiries from this address; retry in {retry} s", retry_after=retry
                )
            self._buckets[key] = (tokens - 1.0, now)
            self._calls += 1
            if self._calls % _SWEEP_EVERY == 0:
                self._sweep(now)

    def _sweep(self, now: float) -> None:
        full_after = self.burst / self.rate
        for key in [k for k, (_, last) in self._buckets.items() if now - last > full_after]:
            del self._buckets[key]
