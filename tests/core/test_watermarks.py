"""The watermarks a heartbeat promises, from the feed position and the passes' skipped ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feeder.core.state import FeedPosition
from feeder.core.watermarks import Watermark, WatermarkTracker

START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def position(live: float, **rereads: float) -> FeedPosition:
    """``position(100, r1=99, r60=40, r300=-200)``: cursors in seconds after START."""
    cursors = tuple(sorted((float(name[1:]), at(s)) for name, s in rereads.items()))
    return FeedPosition(START - timedelta(hours=1), at(live), cursors)


def marks(
    tracker: WatermarkTracker, where: FeedPosition, live_read_at: datetime | None = None
) -> dict[float, datetime]:
    return {mark.lateness_s: mark.watermark for mark in tracker.watermarks(where, live_read_at)}


def test_a_fresh_feed_promises_each_pass_its_cursor_and_the_live_cursor_less_a_millisecond() -> (
    None
):
    fresh = FeedPosition.starting(at(-1000), (1.0, 60.0, 300.0))
    tracker = WatermarkTracker(fresh)
    moved = position(100, r1=99, r60=40, r300=-200)
    assert tracker.watermarks(moved) == (
        Watermark(0.0, at(100) - MS),
        Watermark(1.0, at(99)),
        Watermark(60.0, at(40)),
        Watermark(300.0, at(-200)),
    )


def test_a_skipped_range_holds_the_pass_back_until_the_next_longer_pass_has_read_it() -> None:
    tracker = WatermarkTracker(FeedPosition.starting(at(-1000), (1.0, 60.0, 300.0)))
    tracker.skipped({1.0: (at(10), at(40))})
    assert marks(tracker, position(100, r1=99, r60=30, r300=-200))[1.0] == at(30)
    # the 60 s pass has not passed the gap's end yet: the gap's start bounds it
    assert marks(tracker, position(100, r1=99, r60=35, r300=-200))[1.0] == at(35)
    # once it has, the shorter pass's own cursor counts again
    assert marks(tracker, position(100, r1=99, r60=41, r300=-200))[1.0] == at(99)
    assert marks(tracker, position(100, r1=99, r60=20, r300=-200))[1.0] == at(99)


def test_a_longer_lateness_never_gets_a_later_watermark_than_a_shorter_one() -> None:
    tracker = WatermarkTracker(FeedPosition.starting(at(-1000), (1.0, 60.0)))
    # the shorter pass lags behind the longer one (e.g. it was added to the settings)
    assert marks(tracker, position(100, r1=10, r60=40)) == {
        0.0: at(100) - MS,
        1.0: at(40),
        60.0: at(40),
    }


def test_after_a_restart_shorter_passes_wait_until_the_longer_one_passed_where_they_resumed() -> (
    None
):
    resumed = position(100, r1=99, r60=40, r300=-200)
    tracker = WatermarkTracker(resumed)
    assert marks(tracker, resumed) == {
        0.0: at(100) - MS,
        1.0: at(-200),
        60.0: at(-200),
        300.0: at(-200),
    }
    later = position(400, r1=399, r60=340, r300=100)
    assert marks(tracker, later) == {
        0.0: at(400) - MS,
        1.0: at(399),
        60.0: at(340),
        300.0: at(100),
    }


def test_a_quiet_feed_moves_every_watermark_that_reached_the_live_cursor_with_its_live_reads() -> (
    None
):
    tracker = WatermarkTracker(FeedPosition.starting(at(-1000), (1.0, 60.0)))
    caught_up = position(100, r1=100, r60=80)
    assert marks(tracker, caught_up, live_read_at=at(130)) == {
        0.0: at(130),
        1.0: at(129),
        60.0: at(80),  # below the live cursor: only the 60 s pass can vouch for [80, 100)
    }
    # a shorter pass that has not re-read up to the live cursor vouches for nothing beyond it
    assert marks(tracker, position(100, r1=99, r60=80), live_read_at=at(130)) == {
        0.0: at(100) - MS,
        1.0: at(99),
        60.0: at(80),
    }
