"""Moving a feed back in time: the position a rewind to a moment leaves (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from feeder.core.state import FeedPosition
from feeder.core.timestamps import format_timestamp


def rewound_position(position: FeedPosition, to: datetime) -> FeedPosition:
    """``position`` with every cursor (live, each re-read pass) moved back to ``to``; cursors
    already before it stay.

    ``feed_start`` never moves (first-seen sessions emit transitions only at or after it), so a
    rewind before it is refused: publishing history from before the feed started is a
    backfill's job. A rewind never moves a cursor forward, so one to after the live cursor is
    refused too. Raises ``ValueError`` saying which.
    """
    moment = format_timestamp(to)
    if to < position.feed_start:
        raise ValueError(
            f"{moment} is before the feed start {format_timestamp(position.feed_start)}; use "
            "`feeder backfill --from T --to FEED_START` for the time before it"
        )
    if to > position.live:
        raise ValueError(
            f"{moment} is after the live position {format_timestamp(position.live)}; a rewind "
            "only moves the feed back"
        )
    return replace(
        position,
        live=min(position.live, to),
        rereads=tuple((delay_s, min(cursor, to)) for delay_s, cursor in position.rereads),
    )
