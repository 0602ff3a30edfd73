"""The per-client rate limit: a token bucket per client, as the real API's ~20 requests/s.

Over the limit the real API answers 503 (not 429); the caller does that. The bucket holds one
second's worth of requests, so a burst of ``per_s`` requests passes and then the pace is
``per_s``. Time comes from the injected clock, which makes the limit testable without sleeping.
"""

from __future__ import annotations

from feeder.typing import Clock


class RateLimiter:
    """Admits at most ``per_s`` requests per second per client (0 admits everything)."""

    def __init__(self, per_s: float, clock: Clock) -> None:
        self._per_s = per_s
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def per_s(self) -> float:
        return self._per_s

    def allow(self, client: str) -> bool:
        """Take one token from ``client``'s bucket; false when it is empty."""
        if self._per_s <= 0:
            return True
        now_s = self._clock().timestamp()
        tokens, last_s = self._buckets.get(client, (self._per_s, now_s))
        tokens = min(self._per_s, tokens + max(0.0, now_s - last_s) * self._per_s)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now_s)
            return False
        self._buckets[client] = (tokens - 1.0, now_s)
        return True
