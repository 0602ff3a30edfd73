"""Timestamps as the API writes them: UTC ISO-8601, usually with milliseconds and a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 timestamp of any fractional length; naive values are taken as UTC.

    Raises ``ValueError`` for anything else. A text already in the API's own form
    (``2023-01-19T10:49:06.149Z``) is what :func:`format_timestamp` gives for the value, so it
    is remembered as that: the events of a record format the record's own timestamps again
    (ids, ``time``, changed values), and ``isoformat`` costs ten times a dictionary hit.
    """
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    if parsed.tzinfo is not UTC:
        return parsed.astimezone(UTC)
    if _is_api_form(text):
        _remember(parsed, text)
    return parsed


def _is_api_form(text: str) -> bool:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` (digits are checked by ``fromisoformat``, which accepted
    ``text``; an ASCII text of this shape parses to the value whose format it is)."""
    return (
        len(text) == 24
        and text[23] == "Z"
        and text[19] == "."
        and text[10] == "T"
        and text[4] == text[7] == "-"
        and text[13] == text[16] == ":"
        and text.isascii()
    )


_TEXTS: dict[datetime, str] = {}
_TEXTS_LIMIT = 1 << 16  # about 60 pages of records' timestamps; cleared whole when full


def _remember(moment: datetime, text: str) -> None:
    if len(_TEXTS) >= _TEXTS_LIMIT:
        _TEXTS.clear()
    _TEXTS[moment] = text


def format_timestamp(moment: datetime) -> str:
    """Format like the API (``2023-01-19T10:49:06.149Z``), keeping microseconds if present.

    Equal datetimes are the same instant, hence the same UTC text, so the cache (seeded by
    :func:`parse_timestamp`) cannot mix two values up.
    """
    text = _TEXTS.get(moment)
    if text is None:
        text = _format(moment)
        _remember(moment, text)
    return text


def _format(moment: datetime) -> str:
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


def utc_now() -> datetime:
    """The current time as an aware UTC ``datetime`` (the default :data:`feeder.typing.Clock`)."""
    return datetime.now(UTC)
