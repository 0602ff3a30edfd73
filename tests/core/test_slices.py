"""A backfill window's slices cover every millisecond stamp of it exactly once."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from feeder.core.slices import slice_state_path, slice_window

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_STARTS = st.integers(min_value=0, max_value=10**9).map(lambda us: T0 + timedelta(microseconds=us))
_SPANS_MS = st.integers(min_value=0, max_value=10**7)


@given(_STARTS, _SPANS_MS, st.integers(min_value=1, max_value=64), st.data())
def test_every_stamp_of_the_window_is_in_exactly_one_slice(
    start: datetime, span_ms: int, count: int, data: st.DataObject
) -> None:
    end = start + timedelta(milliseconds=span_ms)
    pieces = slice_window(start, end, count)
    assert 1 <= len(pieces) <= count
    assert pieces[0].start == start
    assert pieces[-1].end == end
    assert [piece.index for piece in pieces] == list(range(len(pieces)))
    assert all(piece.count == len(pieces) for piece in pieces)
    for before, after in itertools.pairwise(pieces):
        assert after.start == before.end + timedelta(milliseconds=1)
        assert after.start.microsecond % 1000 == 0  # the API's precision
        assert before.start <= before.end
    # The API's stamps are whole milliseconds; any of them inside the window.
    first_ms = start + timedelta(microseconds=-start.microsecond % 1000)
    if first_ms <= end:
        last_index = (end - first_ms) // timedelta(milliseconds=1)
        step = data.draw(st.integers(min_value=0, max_value=last_index))
        stamp = first_ms + timedelta(milliseconds=step)
        assert sum(piece.start <= stamp <= piece.end for piece in pieces) == 1


def test_a_window_of_one_slice_keeps_the_state_file_it_was_given() -> None:
    [whole] = slice_window(T0, T0 + timedelta(days=1), 1)
    assert slice_state_path(Path("/x/backfill.sqlite3"), whole) == Path("/x/backfill.sqlite3")
    third = slice_window(T0, T0 + timedelta(days=1), 16)[2]
    assert slice_state_path(Path("/x/backfill.sqlite3"), third) == Path(
        "/x/backfill.slice-003-of-016.sqlite3"
    )
