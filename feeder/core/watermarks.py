"""What the feed can promise about completeness: one watermark per lateness (pure).

A write stamped ``u`` is *d late* when it became visible in the API ``d`` seconds after ``u``.
The watermark for lateness ``d`` is a moment ``W`` such that **every version stamped before
``W`` that was at most ``d`` late has been published** (Kafka acknowledged it, and the
checkpoint holds the position that says so). From the passes (``FeedPosition``):

- lateness 0 — 1 ms before the live cursor: the live pass reads every record visible when it
  reaches the record's place in the ``updatedAt`` order, and a write that was visible at its own
  stamp was visible then (within the millisecond of the newest record read, a write may commit
  just after the read: hence the 1 ms). This assumes no writer stamps ahead of the feeder's
  clock (a writer whose clock runs ahead makes its writes effectively late by that much).
- lateness ``d`` of a re-read pass — its cursor: it read every record stamped before it once
  more at least ``d`` after the stamp. A pass that fell behind skips a range the next longer
  pass reads later; until that pass has read it, the skipped range's start bounds the shorter
  pass's watermark. The longest pass (the lookback) never skips.
- a watermark for a longer lateness is never ahead of one for a shorter, and each watermark
  also holds for every shorter lateness.
- a quiet feed: once a lateness's watermark has reached the live cursor, a complete live read
  begun at ``s`` (it reads ``[live, ∞)``) moves it to ``s - d``: every version stamped in
  ``[live, s - d)`` at most ``d`` late was visible at ``s``. So watermarks keep advancing while
  nothing changes, and stop only when the feed does.

Gaps skipped before this process started are not known, so on start-up every shorter pass
takes the next longer pass's watermark until that pass has passed the cursor it resumed at.
Writes stamped before ``feed_start`` are not published as transitions, whatever their lateness.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from feeder.core.state import FeedPosition

_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Watermark:
    """Every version stamped before ``watermark`` that was at most ``lateness_s`` late has been
    published."""

    lateness_s: float
    watermark: datetime


class WatermarkTracker:
    """Follows the committed position and the re-read passes' skipped ranges."""

    def __init__(self, resumed_at: FeedPosition) -> None:
        # delay -> uncovered ranges (start, end) of that pass; start=None: unknown start.
        self._gaps: dict[float, list[tuple[datetime | None, datetime]]] = {
            delay: [(None, cursor)] for delay, cursor in resumed_at.rereads[:-1]
        }

    def skipped(self, gaps: Mapping[float, tuple[datetime, datetime]]) -> None:
        """Passes (by delay) skipped ahead over ``[start, end)`` this tick."""
        for delay, gap in gaps.items():
            self._gaps.setdefault(delay, []).append(gap)

    def watermarks(
        self, position: FeedPosition, live_read_at: datetime | None = None
    ) -> tuple[Watermark, ...]:
        """The watermarks of ``position``: lateness 0 (live), then each re-read pass's delay;
        ``live_read_at``: when the last complete live read (now committed) began."""
        by_delay: dict[float, datetime] = {}
        longer: datetime | None = None
        for delay, cursor in reversed(position.rereads):
            gaps = [gap for gap in self._gaps.get(delay, []) if longer is None or gap[1] > longer]
            self._gaps[delay] = gaps
            mark = cursor
            for start, _ in gaps:
                bound = position.feed_start if start is None else start
                mark = min(mark, bound)
            if longer is not None:
                mark = max(mark, longer)
            by_delay[delay] = mark
            longer = mark
        live = position.live - _ONE_MS
        if longer is not None:
            live = max(live, longer)
        marks = [Watermark(0.0, live)] + [
            Watermark(delay, by_delay[delay]) for delay, _ in position.rereads
        ]
        if live_read_at is None:
            return tuple(marks)
        return tuple(
            Watermark(mark.lateness_s, max(mark.watermark, quiet))
            if mark.watermark >= position.live
            and (quiet := live_read_at - timedelta(seconds=mark.lateness_s)) > mark.watermark
            else mark
            for mark in marks
        )
