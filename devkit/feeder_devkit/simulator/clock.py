"""Time for the simulator: an injectable clock and millisecond timestamps.

Sessions keep their timestamps as integer milliseconds since the Unix epoch (UTC), which is
compact, orders exactly, and matches the API's millisecond precision. The API renders them as
``2023-01-19T10:49:06.149Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS_CACHED = 100_000


def system_clock() -> datetime:
    """The real time, aware UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: the test double for :data:`Clock`."""

    __slots__ = ("_now",)

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start if start is not None else datetime(2024, 9, 23, 12, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        """Move forward by ``seconds`` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, now: datetime) -> None:
        """Jump to ``now`` (not earlier than the current time)."""
        if now < self._now:
            raise ValueError("a clock does not go backwards")
        self._now = now


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware ``datetime`` (sub-millisecond part dropped)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the simulator needs aware UTC times")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    """The aware UTC ``datetime`` of ``ms`` milliseconds since the epoch."""
    return _EPOCH + timedelta(milliseconds=ms)


class _Formatter:
    """Renders ms timestamps from three small tables (day prefix, time of day, millis).

    Hot path: a page renders ~2,000 timestamps, so this avoids ``strftime`` per value.
    """

    __slots__ = ("_days", "_millis", "_millis_quoted", "_seconds", "_times")

    def __init__(self) -> None:
        self._days: dict[int, str] = {}
        self._seconds: dict[int, str] = {}
        self._times = [
            f"{h:02d}:{m:02d}:{s:02d}." for h in range(24) for m in range(60) for s in range(60)
        ]
        self._millis = [f"{n:03d}Z" for n in range(1000)]
        self._millis_quoted = [f'{n:03d}Z"' for n in range(1000)]

    def _day(self, day: int) -> str:
        found = self._days.get(day)
        if found is None:
            found = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
            self._days[day] = found
        return found

    def _second(self, seconds: int) -> str:
        """``"YYYY-MM-DDTHH:MM:SS.`` of a second (cached, bounded)."""
        found = self._seconds.get(seconds)
        if found is None:
            if len(self._seconds) >= _SECONDS_CACHED:
                self._seconds.clear()
            day, second = divmod(seconds, 86_400)
            found = '"' + self._day(day) + self._times[second]
            self._seconds[seconds] = found
        return found

    def plain(self, ms: int) -> str:
        seconds, millis = divmod(ms, 1000)
        return self._second(seconds)[1:] + self._millis[millis]

    def quoted(self, ms: int | None) -> str:
        if ms is None:
            return "null"
        seconds, millis = divmod(ms, 1000)
        prefix = self._seconds.get(seconds)
        if prefix is None:
            prefix = self._second(seconds)
        return prefix + self._millis_quoted[millis]


_FORMATTER = _Formatter()
format_ms = _FORMATTER.plain
"""``ms`` as the API writes it: ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
quoted_ms = _FORMATTER.quoted
""":func:`format_ms` as a JSON literal: the string in quotes, or ``null`` for ``None``."""


def parse_timestamp(text: str) -> int:
    """Milliseconds of an ISO-8601 date-time; a missing offset means UTC.

    Raises ``ValueError`` for anything else, which the query parser turns into a 400.
    """
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    parsed = datetime.fromisoformat(candidate)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return to_ms(parsed)
