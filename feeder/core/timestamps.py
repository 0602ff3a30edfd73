"""Timestamps as the API writes them: UTC ISO-8601, usually with milliseconds and a ``Z``."""

from __future__ import annotations

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


def format_timestamp(moment: datetime) -> str:
    """Format like the API (``2023-01-19T10:49:06.149Z``), keeping microseconds if present."""
    utc = moment.astimezone(UTC)
    timespec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
    return utc.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch: an exact, compact sort key."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """Inverse of ``to_micros``."""
    seconds, micros_part = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micros_part)
