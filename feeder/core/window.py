"""The two sweep windows: the live edge and the trailing re-read that catches late writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from feeder.core.state import FeedPosition


@dataclass(frozen=True, slots=True)
class SweepWindow:
    """Query ``minUpdatedAt=start`` (inclusive: ties at the edge are re-read and deduped) to
    ``maxUpdatedAt=end``."""

    start: datetime
    end: datetime

    @property
    def is_empty(self) -> bool:
        return self.end <= self.start


def live_window(position: FeedPosition, now: datetime, settle_delay_s: float) -> SweepWindow:
    """From the live watermark up to ``now - settle``."""
    return SweepWindow(position.live, now - timedelta(seconds=settle_delay_s))


def trailing_window(
    position: FeedPosition, now: datetime, lookback_s: float, settle_delay_s: float
) -> SweepWindow:
    """Re-read what became ``lookback`` old since the last trailing sweep, never past ``live``.

    Re-reading ``[watermark - lookback, now]`` on every sweep would cost lookback/poll times the
    live traffic; this trailing cursor reads every record exactly once more and catches the
    same late writes (those visible within ``lookback`` of their ``updatedAt``).
    """
    end = min(now - timedelta(seconds=lookback_s + settle_delay_s), position.live)
    return SweepWindow(position.trailing, end)


def initial_position(feed_start: datetime) -> FeedPosition:
    return FeedPosition(feed_start=feed_start, live=feed_start, trailing=feed_start)
