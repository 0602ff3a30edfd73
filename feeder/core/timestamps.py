"""Timestamps as the API writes them: UTC ISO-8601, usually with milliseconds and a ``Z``."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 timestamp of any fractional length; naive values are taken as UTC.

    Raises ``ValueError`` for anything else.
    """
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# One event formats its own time three or four times (id, envelope, header, changed value) and
# isoformat(timespec=...) costs more than hashing a datetime. Equal datetimes are the same
# instant, hence the same UTC text, so a cache cannot mix two values up.
@functools.lru_cache(maxsize=4096)
def format_timestamp(moment: datetime) -> str:
    """Format like the API (``2023-01-19T10:49:06.149Z``), keeping microseconds if present."""
    # Skip the conversion when the value is already in UTC (as everything parse_timestamp
    # returns is), and cut the "+00:00" rather than copy the value without its zone.
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    timespec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
    return utc.isoformat(timespec=timespec)[:-6] + "Z"


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch: an exact, compact sort key."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """Inverse of ``to_micros``."""
    seconds, micros_part = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micros_part)
