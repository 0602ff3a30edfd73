"""The position a rewind leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feeder.core.rewind import rewound_position
from feeder.core.state import FeedPosition

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
LOOKBACK_CURSOR = T0 + timedelta(minutes=25)
POSITION = FeedPosition(
    T0,
    live=T0 + timedelta(minutes=30),
    rereads=((4.0, T0 + timedelta(minutes=29)), (300.0, LOOKBACK_CURSOR)),
)


def test_every_cursor_moves_back_to_the_moment() -> None:
    to = T0 + timedelta(minutes=10)
    assert rewound_position(POSITION, to) == FeedPosition(T0, to, ((4.0, to), (300.0, to)))


def test_a_cursor_already_before_the_moment_stays() -> None:
    to = T0 + timedelta(minutes=27)
    assert rewound_position(POSITION, to) == FeedPosition(
        T0, to, ((4.0, to), (300.0, LOOKBACK_CURSOR))
    )


def test_the_feed_start_itself_is_a_valid_target() -> None:
    assert rewound_position(POSITION, T0) == FeedPosition(T0, T0, ((4.0, T0), (300.0, T0)))


def test_before_the_feed_start_is_refused_pointing_at_backfill() -> None:
    with pytest.raises(ValueError, match=r"before the feed start .*feeder backfill"):
        rewound_position(POSITION, T0 - timedelta(seconds=1))


def test_forward_is_refused() -> None:
    with pytest.raises(ValueError, match="after the live position"):
        rewound_position(POSITION, POSITION.live + timedelta(milliseconds=1))
