"""The committed JSON Schemas match the generator, and what the core encodes validates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from feeder.core.diff import EventType
from feeder.core.encoding import ContentMode, EventEncoding, KeyStrategy, backfill
from feeder.core.events import change_events
from feeder.core.field_policy import KEEP_EVERYTHING
from feeder.core.page_plan import parse_page
from feeder.core.records import TopicNames, cloudevent, dead_letter_record, event_records
from feeder.core.snapshot import parse_session
from feeder.core.state import SessionState
from feeder.core.timestamps import format_timestamp
from feeder.schemas.generate import (
    DEAD_LETTER_NAME,
    DIALECT,
    HEARTBEAT_NAME,
    STATE_NAME,
    WATERMARK_NAME,
    binary_name,
    example_session_record,
    record_document,
    schema_names,
    stale_files,
)
from tests.core.sessions import apply_snapshot
from tests.ops.conftest import ROOT

SCHEMAS = ROOT / "schemas"
TOPICS = TopicNames("events", "fraud", "state", "dlq")
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ENCODING = EventEncoding(source="urn:test")


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        load(SCHEMAS / f"{name}.schema.json"), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def problems(name: str, document: object) -> list[str]:
    return [error.message for error in validator(name).iter_errors(document)]


def test_committed_schemas_match_the_generator() -> None:
    assert stale_files(SCHEMAS) == [], "run `feeder schemas` and commit the result"


def test_the_generator_notices_a_changed_file(tmp_path: Path) -> None:
    for path in SCHEMAS.rglob("*.json"):
        target = tmp_path / path.relative_to(SCHEMAS)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    edited = tmp_path / "session.entered.schema.json"
    edited.write_text(edited.read_text(encoding="utf-8").replace("uuid", "uri"), encoding="utf-8")
    (tmp_path / "examples" / "leftover.json").write_text("{}", encoding="utf-8")
    assert stale_files(tmp_path) == ["session.entered.schema.json", "examples/leftover.json"]


def test_there_is_a_schema_and_an_example_for_every_record_feeder_publishes() -> None:
    expected = (
        {event_type.value for event_type in EventType}
        | {f"{event_type.value}.binary" for event_type in EventType}
        | {STATE_NAME, DEAD_LETTER_NAME, HEARTBEAT_NAME, WATERMARK_NAME}
    )
    assert set(schema_names()) == expected
    for name in expected:
        assert (SCHEMAS / f"{name}.schema.json").is_file()
        assert (SCHEMAS / "examples" / f"{name}.json").is_file()


@pytest.mark.parametrize("name", schema_names())
def test_each_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = load(SCHEMAS / f"{name}.schema.json")
    assert schema["$schema"] == DIALECT
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", schema_names())
def test_each_example_validates(name: str) -> None:
    assert problems(name, load(SCHEMAS / "examples" / f"{name}.json")) == []


def test_the_event_schemas_are_closed_and_typed() -> None:
    """The schemas are not vacuous: drift in the envelope or in a change is rejected."""
    example = load(SCHEMAS / "examples" / "session.entered.json")
    assert problems("session.entered", {**example, "partition": 3})
    assert problems("session.entered", {**example, "type": "session.exited"})
    assert problems("session.entered", {**example, "time": "2026-11-01 12:00"})
    wrong_change = json.loads(json.dumps(example))
    wrong_change["data"]["changed"]["customerLastEnteredAt"]["new"] = None
    assert problems("session.entered", wrong_change)
    other_field = json.loads(json.dumps(example))
    other_field["data"]["changed"] = {"status": {"old": "active", "new": "closed"}}
    assert problems("session.entered", other_field)
    fraud = load(SCHEMAS / "examples" / "session.suspected_fraud_changed.json")
    fraud["data"]["changed"]["suspectedFraud"]["new"] = "yes"
    assert problems("session.suspected_fraud_changed", fraud)
    assert problems("session.entered", {**example, "origin": "replay"})
    assert problems("session.entered", {**example, "backfillwindow": "last week"})
    binary = load(SCHEMAS / "examples" / "session.entered.binary.json")
    headers = binary["headers"]
    without_source = {name: value for name, value in headers.items() if name != "ce_source"}
    assert problems("session.entered.binary", {**binary, "headers": without_source})
    assert problems("session.entered.binary", {**binary, "headers": {**headers, "ce_x": "1"}})
    assert problems(
        "session.entered.binary", {**binary, "headers": {**headers, "ce_type": "session.exited"}}
    )
    assert problems("session.entered.binary", {**binary, "value": example})  # a whole event


def stamp(seconds: float) -> str:
    return format_timestamp(T0 + timedelta(seconds=seconds))


moments = st.none() | st.integers(0, 3600).map(float)
record_changes = st.fixed_dictionaries(
    {
        "entered": moments,
        "exited": moments,
        "scanned": moments,
        "fraud": st.booleans(),
        "status": st.sampled_from(["active", "closed", "inactive", None]),
        "micros": st.booleans(),
    }
)


def visit_record(
    session_id: str | int, store_id: object, step: int, change: dict[str, Any]
) -> dict[str, object]:
    def moment(value: float | None) -> str | None:
        if value is None:
            return None
        return stamp(value + (0.000123 if change["micros"] else 0))

    return example_session_record(
        id=session_id,
        storeId=store_id,
        updatedAt=stamp(step * 10 + (0.000456 if change["micros"] else 0)),
        customerLastEnteredAt=moment(change["entered"]),
        customerLastExitedAt=moment(change["exited"]),
        codeLastSuccesfullyScannedAt=moment(change["scanned"]),
        suspectedFraud=change["fraud"],
        status=change["status"],
        unknownFieldFromTheFuture={"nested": [1, 2]},
    )


encodings = st.builds(
    EventEncoding,
    source=st.just("urn:test"),
    content_mode=st.sampled_from(ContentMode),
    origin=st.sampled_from([ENCODING.origin, backfill(T0, T0 + timedelta(days=1))]),
    key_strategy=st.sampled_from(KeyStrategy),
)


@settings(max_examples=150, deadline=None)
@given(
    session_id=st.one_of(st.integers(1, 10**9), st.uuids().map(str)),
    store_id=st.one_of(st.none(), st.integers(0, 500), st.just("store-A")),
    steps=st.lists(record_changes, min_size=1, max_size=6),
    feed_start_s=st.sampled_from([-60.0, 0.0, 1800.0]),
    encoding=encodings,
)
def test_every_event_the_core_encodes_validates(
    session_id: str | int,
    store_id: object,
    steps: list[dict[str, Any]],
    feed_start_s: float,
    encoding: EventEncoding,
) -> None:
    known: SessionState | None = None
    for step, change in enumerate(steps, start=1):
        snapshot = parse_session(visit_record(session_id, store_id, step, change))
        if known is not None and snapshot.updated_at <= known.updated_at:
            continue
        changes, known = apply_snapshot(known, snapshot, T0 + timedelta(seconds=feed_start_s))
        for event in change_events(snapshot, changes):
            assert problems(event.type.value, cloudevent(event, encoding)) == []
            for record in event_records(event, encoding, TOPICS):
                if encoding.content_mode is ContentMode.STRUCTURED:
                    assert problems(event.type.value, orjson.loads(record.value)) == []
                else:
                    document = record_document(record.key, record.headers, record.value)
                    assert problems(binary_name(event.type), document) == []
        assert problems(STATE_NAME, dict(snapshot.raw)) == []


def test_each_event_type_is_encoded_and_validates() -> None:
    """One hand-made transition per type, through the core's encoder, with edge values."""
    base = {"id": 77, "storeId": None, "updatedAt": stamp(0), "createdAt": stamp(0)}
    flagged_at_first_sight = {**base, "suspectedFraud": True}
    first = parse_session(base)
    seen: dict[EventType, dict[str, Any]] = {}
    first_changes, first_state = apply_snapshot(None, first, T0)
    for event in change_events(first, first_changes):
        seen[event.type] = cloudevent(event, ENCODING)
    for event in change_events(
        parse_session(flagged_at_first_sight),
        apply_snapshot(None, parse_session(flagged_at_first_sight), T0)[0],
    ):
        seen.setdefault(event.type, cloudevent(event, ENCODING))
    later = parse_session(
        {
            **base,
            "updatedAt": stamp(9.5),
            "customerLastEnteredAt": stamp(3.000001),
            "customerLastExitedAt": stamp(9),
            "codeLastSuccesfullyScannedAt": stamp(1),
            "status": "closed",
        }
    )
    for event in change_events(later, apply_snapshot(first_state, later, T0)[0]):
        seen.setdefault(event.type, cloudevent(event, ENCODING))
    assert set(seen) == set(EventType)
    for event_type, document in seen.items():
        assert "storeid" not in document
        assert problems(event_type.value, document) == []
    assert seen[EventType.SUSPECTED_FRAUD_CHANGED]["data"]["changed"]["suspectedFraud"] == {
        "old": None,
        "new": True,
    }


@pytest.mark.parametrize(
    "raw",
    [
        {"updatedAt": stamp(1)},
        {"id": "9", "updatedAt": "not a time"},
        {"id": True, "updatedAt": stamp(1)},
        {"id": "9", "updatedAt": stamp(1), "suspectedFraud": "no"},
        ["not", "an", "object"],
        "just a string",
        None,
    ],
)
def test_dead_letters_validate(raw: object) -> None:
    (letter,) = parse_page([raw]).dead_letters
    record = dead_letter_record(letter, TOPICS, T0, policy=KEEP_EVERYTHING)
    document = record_document(record.key, record.headers, record.value)
    assert problems(DEAD_LETTER_NAME, document) == []
    assert document["value"] == raw
