"""A backfill window cut into slices that are swept at once, each on its own state (pure).

One sweep walks its window page after page, waiting for each page (100-300 ms from a remote
API) before it asks for the next; slices swept concurrently keep the request budget busy. A
slice is ``[start, end]`` inclusive, like the API's ``minUpdatedAt``/``maxUpdatedAt``; inner
boundaries fall on whole milliseconds (the API's precision), so every stamp of the window is in
exactly one slice.

Slices never see the same session twice: a session is listed once, at its ``updatedAt``, and a
session that changes while the backfill runs moves past the window's end (fixed when the
backfill starts), out of every slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from feeder.core.timestamps import from_micros, to_micros

_MS_US = 1000


@dataclass(frozen=True, slots=True)
class Slice:
    """Slice ``index`` (from 0) of ``count``: ``[start, end]``, both inclusive."""

    index: int
    count: int
    start: datetime
    end: datetime

    @property
    def span_s(self) -> float:
        return (self.end - self.start).total_seconds()


def slice_window(start: datetime, end: datetime, count: int) -> tuple[Slice, ...]:
    """``[start, end]`` as up to ``count`` adjacent slices of about equal span (fewer when the
    window holds fewer milliseconds): the first starts at ``start``, the last ends at ``end``,
    and each other boundary ``b`` on a whole millisecond ends the slice before at ``b - 1 ms``.
    """
    if count < 1:
        raise ValueError(f"a window needs at least one slice, got {count}")
    if end < start:
        raise ValueError(f"the window ends ({end.isoformat()}) before it starts")
    first_us, last_us = to_micros(start), to_micros(end)
    bounds = [first_us]
    for index in range(1, count):
        cut_us = first_us + (last_us - first_us) * index // count
        cut_us = -(-cut_us // _MS_US) * _MS_US  # up to a whole millisecond
        if bounds[-1] <= cut_us - _MS_US and cut_us <= last_us:  # no slice ends before it starts
            bounds.append(cut_us)
    starts = [from_micros(bound) for bound in bounds]
    starts[0] = start  # exactly as given, not a round trip through microseconds
    ends = [moment - timedelta(milliseconds=1) for moment in starts[1:]] + [end]
    return tuple(
        Slice(index, len(starts), slice_start, slice_end)
        for index, (slice_start, slice_end) in enumerate(zip(starts, ends, strict=True))
    )


def slice_state_path(state: Path, piece: Slice) -> Path:
    """The state file of ``piece``: ``state`` itself for a window in one slice, else beside it
    as ``<stem>.slice-003-of-016<suffix>``."""
    if piece.count == 1:
        return state
    return state.with_name(
        f"{state.stem}.slice-{piece.index + 1:03d}-of-{piece.count:03d}{state.suffix}"
    )
