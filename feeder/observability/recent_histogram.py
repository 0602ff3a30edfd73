"""A histogram of the last few minutes only, so ``feeder status`` can show recent quantiles.

Prometheus histograms are cumulative since the process started; dashboards take ``rate()`` over
them. A command that scrapes ``/metrics`` once has no ``rate()``, so the process also keeps the
same buckets for a sliding window (in slots: memory stays a few hundred integers whatever the
traffic) and interpolates quantiles from them the way PromQL's ``histogram_quantile`` does.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Sequence


class RecentHistogram:
    """Bucket counts of the observations of the last ``window_s`` seconds (± one slot)."""

    def __init__(
        self,
        buckets: Sequence[float],
        *,
        window_s: float,
        slots: int,
        clock_s: Callable[[], float],
    ) -> None:
        if list(buckets) != sorted(buckets) or not buckets:
            raise ValueError("buckets must be a non-empty ascending sequence")
        self._bounds = tuple(buckets)
        self._slot_s = window_s / slots
        self._slots = slots
        self._clock_s = clock_s
        self._window: deque[tuple[int, list[int]]] = deque()  # (slot number, counts), oldest first

    def _current_slot(self) -> int:
        return int(self._clock_s() // self._slot_s)

    def _drop_expired(self, slot: int) -> None:
        while self._window and self._window[0][0] <= slot - self._slots:
            self._window.popleft()

    def observe(self, value: float) -> None:
        slot = self._current_slot()
        self._drop_expired(slot)
        if not self._window or self._window[-1][0] != slot:
            self._window.append((slot, [0] * (len(self._bounds) + 1)))  # the last one is +Inf
        self._window[-1][1][bisect.bisect_left(self._bounds, value)] += 1

    def counts(self) -> list[int]:
        """Observations per bucket in the window; the last entry is the ``+Inf`` bucket."""
        self._drop_expired(self._current_slot())
        totals = [0] * (len(self._bounds) + 1)
        for _, counts in self._window:
            for index, count in enumerate(counts):
                totals[index] += count
        return totals

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (0..1) by linear interpolation inside its bucket, as
        ``histogram_quantile`` computes it; ``None`` when the window holds no observation."""
        counts = self.counts()
        total = sum(counts)
        if total == 0:
            return None
        rank = q * total
        below = 0
        for index, count in enumerate(counts):
            if below + count >= rank and count > 0:
                if index == len(self._bounds):  # +Inf: the highest finite bound is all we know
                    return self._bounds[-1]
                lower = 0.0 if index == 0 else self._bounds[index - 1]
                upper = self._bounds[index]
                return lower + (upper - lower) * (rank - below) / count
            below += count
        return self._bounds[-1]
