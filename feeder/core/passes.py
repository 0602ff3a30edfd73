"""The sweep's passes over the ``updatedAt`` order, and what each poll tick reads (pure).

- The **live pass** reads ``[live, now]`` with no upper bound every tick, so a session's newest
  version is read within one poll interval however often it changes (DESIGN §2.3).
- **Re-read passes** at staggered delays (a few seconds … a minute … ``lookback``) each keep a
  cursor and read ``[cursor, now - delay]`` once more, so a write that became visible *d* seconds
  late is caught by the first pass whose delay exceeds *d*, soon after it became visible
  (DESIGN §2.4). A pass runs every tick, or for long delays every twentieth of its delay, and
  at once when its window reaches the live cursor (nothing newer will come to widen it).
- Re-read windows end at the live cursor: nothing is re-read before the live pass read it once.
  A read at time *r* of ``[a, b]`` also moves every pass whose cursor lies in ``[a, b]`` up to
  ``min(b, r - delay)``: what a catch-up read finds is already as old as a re-read would see it.
- A pass that fell behind (the request budget ran out) skips whatever the next longer pass will
  read anyway: it never reads records older than the next pass's delay. The longest pass never
  skips, so every record is read again once it is ``lookback`` old.
- Windows that are cheap to read together (by the record counts seen so far, no more requests
  than apart) are merged into one read; the live read is never merged, so it is never slowed.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from feeder.core.state import FeedPosition, reread_name

CADENCE_SHARE_OF_DELAY = 0.05
"""A re-read pass runs once its window spans this share of its delay (or one poll interval)."""

class PassName(StrEnum):
    """The names of the passes that are not re-reads (those are ``reread_name(delay_s)``), as
    metrics (their ``sweep`` label) and logs show them."""

    LIVE = "live"  # reads from the live cursor to now, every tick
    BACKFILL = "backfill"  # one read of an explicit past window, on a store of its own


@dataclass(frozen=True, slots=True)
class RereadPass:
    delay_s: float
    cadence_s: float

    @property
    def name(self) -> str:
        """The pass's label in metrics and ``feeder status``: ``reread_30s``."""
        return reread_name(self.delay_s)


def reread_passes(delays_s: Iterable[float], poll_interval_s: float) -> tuple[RereadPass, ...]:
    """The passes for the configured delays, shortest first."""
    return tuple(
        RereadPass(delay, max(poll_interval_s, delay * CADENCE_SHARE_OF_DELAY))
        for delay in sorted(delays_s)
    )


@dataclass(frozen=True, slots=True)
class Read:
    """One cursor walk over ``[start, end]`` (``end=None``: to the newest record).

    ``passes`` are the delays of the re-read passes whose windows it covers (none for the live
    read); ``urgency`` is how many of its cadences the most overdue of them is behind.
    """

    start: datetime
    end: datetime | None
    passes: tuple[float, ...]
    urgency: float = 0.0

    @property
    def is_live(self) -> bool:
        return self.end is None


@dataclass(frozen=True, slots=True)
class RereadPlan:
    """The re-reads of one tick (planned once the live read is done), most overdue first; and
    the cursors that skipped ahead (delay → new cursor), with the seconds of stamps skipped."""

    reads: tuple[Read, ...]
    skipped: dict[float, datetime]
    skipped_s: dict[float, float]


def _end(position: FeedPosition, reread: RereadPass, now: datetime) -> datetime:
    return min(now - timedelta(seconds=reread.delay_s), position.live)


def skip_ahead(
    position: FeedPosition, passes: Sequence[RereadPass], now: datetime
) -> tuple[dict[float, datetime], dict[float, float]]:
    """Cursors of passes that fell behind the next longer pass's delay, moved up to it."""
    moved: dict[float, datetime] = {}
    seconds: dict[float, float] = {}
    for shorter, longer in itertools.pairwise(passes):
        cursor = position.reread(shorter.delay_s)
        floor = min(now - timedelta(seconds=longer.delay_s), _end(position, shorter, now))
        if cursor < floor:
            moved[shorter.delay_s] = floor
            seconds[shorter.delay_s] = (floor - cursor).total_seconds()
    return moved, seconds


def live_read(position: FeedPosition) -> Read:
    """The first read of every tick: from the live cursor to the newest record."""
    return Read(position.live, None, ())


def plan_rereads(
    position: FeedPosition,
    passes: Sequence[RereadPass],
    *,
    now: datetime,
    poll_interval_s: float,
    density: StampDensity,
    page_size: int,
) -> RereadPlan:
    """What to re-read this tick (``now``: when it began), given where the passes stand."""
    skipped, skipped_s = skip_ahead(position, passes, now)
    position = position.with_rereads(skipped)
    windows: list[Read] = []
    for reread in passes:
        start, end = position.reread(reread.delay_s), _end(position, reread, now)
        span_s = (end - start).total_seconds()
        # A window that ends at the live cursor will not grow until new records arrive: read it
        # now rather than leave the last records before a quiet spell un-re-read.
        full = span_s >= reread.cadence_s - poll_interval_s / 2 or end == position.live
        if span_s > 0 and full:
            windows.append(Read(start, end, (reread.delay_s,), span_s / reread.cadence_s))
    merged = _merge(sorted(windows, key=lambda read: read.start), density, page_size)
    reads = tuple(sorted(merged, key=lambda read: read.urgency, reverse=True))
    return RereadPlan(reads, skipped, skipped_s)


def _merge(windows: list[Read], density: StampDensity, page_size: int) -> list[Read]:
    """Join neighbours (sorted by start) when reading them together costs no more requests."""
    spans: list[tuple[datetime, datetime, tuple[float, ...], float]] = []
    for window in windows:
        end = window.end or window.start  # re-read windows are always bounded
        if spans:
            start, last_end, delays, urgency = spans[-1]
            apart = pages(density.estimate(start, last_end), page_size) + pages(
                density.estimate(window.start, end), page_size
            )
            together = pages(density.estimate(start, max(last_end, end)), page_size)
            if window.start <= last_end or together <= apart:
                spans[-1] = (
                    start,
                    max(last_end, end),
                    (*delays, *window.passes),
                    max(urgency, window.urgency),
                )
                continue
        spans.append((window.start, end, window.passes, window.urgency))
    return [Read(start, end, delays, urgency) for start, end, delays, urgency in spans]


def pages(sessions: float, page_size: int) -> int:
    """Requests a read of ``sessions`` takes (an API that says when a full page is the last)."""
    return max(1, math.ceil(sessions / page_size)) if math.isfinite(sessions) else 1 << 30


def advanced(
    position: FeedPosition,
    passes: Sequence[RereadPass],
    *,
    start: datetime,
    reached: datetime | None,
    read_at: datetime,
) -> FeedPosition:
    """The re-read cursors after a read begun at ``read_at`` covered ``[start, reached]``
    (``reached=None``: everything from ``start`` on).

    Every pass whose cursor lies in the covered range has now read it up to ``read_at - delay``
    (records stamped later were younger than the pass's delay when they were read).
    """
    moved: dict[float, datetime] = {}
    for reread in passes:
        cursor = position.reread(reread.delay_s)
        if cursor < start or (reached is not None and cursor > reached):
            continue
        target = read_at - timedelta(seconds=reread.delay_s)
        if reached is not None:
            target = min(target, reached)
        moved[reread.delay_s] = target
    return position.with_rereads(moved)


class StampDensity:
    """How many new versions were seen per second of ``updatedAt``: a bound on what a re-read of
    a window will return (sessions that changed since have moved on). Ranges before the feed's
    first read in this process are unknown (infinite), so they are never merged on a guess."""

    def __init__(self, known_from: datetime, horizon_s: float) -> None:
        self._known_from_s = math.floor(known_from.timestamp())
        self._horizon_s = horizon_s
        self._counts: Counter[int] = Counter()

    def add(self, stamps: Iterable[datetime]) -> None:
        for stamp in stamps:
            self._counts[math.floor(stamp.timestamp())] += 1

    def forget_before(self, moment: datetime) -> None:
        """Drop counts older than ``moment - horizon`` (they will not be re-read again)."""
        cutoff = math.floor(moment.timestamp() - self._horizon_s)
        for second in [second for second in self._counts if second < cutoff]:
            del self._counts[second]
        self._known_from_s = max(self._known_from_s, cutoff)

    def estimate(self, start: datetime, end: datetime) -> float:
        low, high = math.floor(start.timestamp()), math.floor(end.timestamp())
        if low < self._known_from_s:
            return math.inf
        return float(sum(count for second, count in self._counts.items() if low <= second <= high))
