"""Events are read back in both CloudEvents content modes and in feeder's earlier format."""

from __future__ import annotations

import orjson
import pytest

from feeder.audit.published import decode_event
from feeder.core.encoding import ContentMode, EventEncoding
from feeder.core.events import change_events
from feeder.core.records import cloudevent, event_records
from feeder.core.timestamps import EPOCH, format_timestamp
from tests.audit.events import TOPICS, snapshot
from tests.core.sessions import apply_snapshot, at, record

SESSION = snapshot(record("4711", updated=5, created=1, fraud=True))
CREATED, FRAUD = change_events(SESSION, apply_snapshot(None, SESSION, EPOCH)[0])
ENCODING = EventEncoding(source="urn:test")
STAMP = format_timestamp(at(0)).encode()


def test_what_feeder_writes_today_is_read_as_structured() -> None:
    written = event_records(FRAUD, ENCODING, TOPICS)[0]
    event = decode_event(written.key, written.headers, written.value, partition=3, offset=9)
    assert event is not None
    assert (event.id, event.type, event.subject) == (FRAUD.id, FRAUD.type.value, "4711")
    assert (event.time, event.new, event.partition, event.offset) == (at(5), True, 3, 9)


def test_structured_mode_needs_no_ce_headers() -> None:
    value = orjson.dumps(cloudevent(CREATED, ENCODING))
    headers = [("content-type", b"application/cloudevents+json; charset=UTF-8")]
    event = decode_event(None, headers, value, partition=0, offset=0)
    assert event is not None
    assert (event.id, event.type, event.subject, event.time) == (
        CREATED.id,
        "session.created",
        "4711",
        at(1),
    )


def test_binary_mode_takes_the_attributes_from_ce_headers_and_data_from_the_value() -> None:
    binary = EventEncoding(source="urn:test", content_mode=ContentMode.BINARY)
    written = event_records(FRAUD, binary, TOPICS)[0]
    event = decode_event(written.key, written.headers, written.value, partition=0, offset=1)
    assert event is not None
    assert (event.id, event.type, event.time, event.new) == (
        FRAUD.id,
        "session.suspected_fraud_changed",
        at(5),
        True,
    )


def test_the_key_stands_in_for_a_missing_subject() -> None:
    envelope = cloudevent(CREATED, ENCODING)
    del envelope["subject"]
    event = decode_event(b"4711", [], orjson.dumps(envelope), partition=0, offset=0)
    assert event is not None
    assert event.subject == "4711"


@pytest.mark.parametrize(
    ("headers", "value"),
    [
        ([], b"not json"),
        ([("content-type", b"application/json")], b'{"sessionId": "1"}'),  # binary, no ce_ headers
        ([], orjson.dumps({"specversion": "1.0", "id": "x", "type": "t", "time": "yesterday"})),
        ([("ce_id", b"x"), ("ce_type", b"t"), ("ce_time", STAMP)], b"{}"),  # no subject, no key
    ],
)
def test_records_that_are_not_readable_events_are_none(
    headers: list[tuple[str, bytes]], value: bytes
) -> None:
    assert decode_event(None, headers, value, partition=0, offset=0) is None
