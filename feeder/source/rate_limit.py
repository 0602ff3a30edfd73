"""Client-side rate limiting: attempts are spaced at least ``1 / requests_per_s`` apart.

The API throttles at about 20 requests/s with a 503; staying well under that is cheaper than
being told. Spacing (rather than a bucket that allows bursts) keeps the load smooth, and it applies
to every attempt, retries included. Slots are reserved before sleeping, so concurrent callers queue
up in order without a lock.
"""

from __future__ import annotations

from feeder.typing import MonotonicClock, Sleep


class IntervalRateLimiter:
    """Lets callers through no faster than ``requests_per_s``, measured on the injected clock."""

    __slots__ = ("_clock", "_interval_s", "_next_slot_s", "_sleep")

    def __init__(self, requests_per_s: float, *, clock: MonotonicClock, sleep: Sleep) -> None:
        if requests_per_s <= 0:
            raise ValueError(f"requests_per_s must be positive, got {requests_per_s}")
        self._interval_s = 1.0 / requests_per_s
        self._clock = clock
        self._sleep = sleep
        self._next_slot_s: float | None = None

    @property
    def interval_s(self) -> float:
        """The minimum time between two attempts."""
        return self._interval_s

    async def acquire(self) -> None:
        """Wait for this caller's slot."""
        now_s = self._clock()
        slot_s = now_s if self._next_slot_s is None else max(now_s, self._next_slot_s)
        self._next_slot_s = slot_s + self._interval_s
        wait_s = slot_s - now_s
        if wait_s > 0:
            await self._sleep(wait_s)
