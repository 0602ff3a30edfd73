from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feeder.core.snapshot import parse_session
from feeder.errors import MalformedSessionError
from tests.core.sessions import record


def test_ids_are_normalised_to_strings() -> None:
    assert parse_session(record("42", updated=1)).session_id == "42"
    assert parse_session({**record(updated=1), "id": 42}).session_id == "42"
    assert parse_session({**record(updated=1), "storeId": 9}).store_id == "9"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-19T10:49:06.149Z", datetime(2023, 1, 19, 10, 49, 6, 149000, tzinfo=UTC)),
        ("2023-01-19T10:49:06Z", datetime(2023, 1, 19, 10, 49, 6, tzinfo=UTC)),
        ("2023-01-19T10:49:06.1Z", datetime(2023, 1, 19, 10, 49, 6, 100000, tzinfo=UTC)),
        ("2023-01-19T10:49:06.123456789Z", datetime(2023, 1, 19, 10, 49, 6, 123456, tzinfo=UTC)),
        ("2023-01-19T12:49:06.149+02:00", datetime(2023, 1, 19, 10, 49, 6, 149000, tzinfo=UTC)),
    ],
)
def test_timestamps_of_any_fractional_length(text: str, expected: datetime) -> None:
    assert parse_session({**record(updated=1), "updatedAt": text}).updated_at == expected


def test_null_timestamps_are_not_yet_happened() -> None:
    snapshot = parse_session(record(updated=1, entered=None))
    assert snapshot.customer_last_entered_at is None


def test_unknown_fields_and_statuses_pass_through_untouched() -> None:
    raw = record(updated=1, status="quarantined", metadata={"events": [{"eventId": "x"}]})
    snapshot = parse_session(raw)
    assert snapshot.status == "quarantined"
    assert snapshot.raw is raw


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": None}, "id"),
        ({"id": ""}, "id"),
        ({"id": True}, "id"),
        ({"id": 1.5}, "id"),
        ({"updatedAt": None}, "updatedAt"),
        ({"updatedAt": "yesterday"}, "updatedAt"),
        ({"updatedAt": 1700000000}, "updatedAt"),
        ({"customerLastEnteredAt": "2023-13-45T00:00:00Z"}, "customerLastEnteredAt"),
        ({"suspectedFraud": "yes"}, "suspectedFraud"),
        ({"status": 3}, "status"),
        ({"storeId": [1]}, "storeId"),
    ],
)
def test_malformed_records_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(MalformedSessionError) as caught:
        parse_session({**record(updated=1), **change})
    assert caught.value.field == field
    assert field in str(caught.value)


def test_a_record_that_is_not_an_object_is_malformed() -> None:
    with pytest.raises(MalformedSessionError, match="JSON object"):
        parse_session(["not", "a", "session"])
