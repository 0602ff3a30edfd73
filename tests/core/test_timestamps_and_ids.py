"""The hand-rolled fast paths give exactly what the standard library would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from feeder.core.events import EVENT_ID_NAMESPACE, uuid5_text
from feeder.core.timestamps import format_timestamp, parse_timestamp

# UTC itself (the fast path), another zero-offset zone object and a real offset.
_ZONES = st.sampled_from([UTC, timezone(timedelta(0), "Z"), timezone(timedelta(hours=5.5))])
# Hypothesis takes naive bounds and attaches the zones itself.
_BOUNDS = {"min_value": datetime(1971, 1, 1), "max_value": datetime(9000, 1, 1)}  # noqa: DTZ001


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_uuid5_text_is_the_standard_uuid5(name: str) -> None:
    assert uuid5_text(name) == str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


@given(st.datetimes(**_BOUNDS, timezones=_ZONES))
def test_format_timestamp_is_utc_with_a_z(moment: datetime) -> None:
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    timespec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
    assert format_timestamp(moment) == utc.isoformat(timespec=timespec) + "Z"
    assert parse_timestamp(format_timestamp(moment)) == moment


def test_format_timestamp_keeps_api_milliseconds() -> None:
    assert format_timestamp(parse_timestamp("2023-01-19T10:49:06.149Z")) == (
        "2023-01-19T10:49:06.149Z"
    )


def _uncached_format(moment: datetime) -> str:
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    timespec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
    return utc.isoformat(timespec=timespec) + "Z"


@given(
    st.datetimes(**_BOUNDS, timezones=st.just(UTC)),
    st.sampled_from(["T", " ", "x"]),
    st.sampled_from(["milliseconds", "microseconds", "seconds", "auto"]),
    st.sampled_from(["Z", "+00:00", ""]),
)
def test_a_parsed_text_is_remembered_only_as_its_own_format(
    moment: datetime, separator: str, timespec: str, zone: str
) -> None:
    """``parse_timestamp`` remembers the texts already in the API's form as the value's format;
    any other spelling of the same instant must still format as the API writes it."""
    text = moment.replace(tzinfo=None).isoformat(separator, timespec) + zone
    parsed = parse_timestamp(text)
    assert format_timestamp(parsed) == _uncached_format(parsed)
