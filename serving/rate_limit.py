"""Per-API-key rate limit: a token bucket per key, refilled continuously at `per_minute` requests a minute.

Buckets live in the process, so each replica limits on its own: behind a load balancer spreading traffic over
N replicas a key gets up to N times the limit. That keeps the scoring path free of a shared store.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def take(self, key: str) -> float:
        """0 when the request may go ahead (a token is spent), else the seconds until one will be available."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    """Retry-After takes whole seconds; round up so a client that waits that long gets through."""
    return str(max(1, math.ceil(seconds)))
