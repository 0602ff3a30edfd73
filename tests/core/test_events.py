from __future__ import annotations

from dataclasses import replace

import orjson
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.exceptions import CloudEventValidationError
from cloudevents.core.formats.json import JSONFormat

from feeder.core.encoding import ContentMode, EventEncoding, KeyStrategy, backfill
from feeder.core.events import change_events
from feeder.core.field_policy import FieldPolicy
from feeder.core.page_plan import PagePlan, parse_page, plan_page
from feeder.core.records import TopicNames, cloudevent, page_records
from feeder.core.snapshot import parse_session
from tests.core.sessions import apply, at, first_state, record

TOPICS = TopicNames("events", "fraud", "state", "dlq")
STRUCTURED = EventEncoding(source="urn:test")
BINARY = replace(STRUCTURED, content_mode=ContentMode.BINARY)


def plan_of(records: list[object]) -> PagePlan:
    return plan_page(
        parse_page(records),
        {},
        feed_start=at(0),
        now=at(200),
        previous_updated_at=None,
    )


def test_cloudevent_envelope_carries_the_session_and_the_change() -> None:
    raw = record("s1", updated=20, entered=15, extra_field={"kept": True})
    [event] = change_events(parse_session(raw), apply(None, raw, start=10)[0])
    envelope = cloudevent(event, STRUCTURED)
    assert envelope["specversion"] == "1.0"
    assert envelope["type"] == "session.entered"
    assert envelope["subject"] == "s1"
    assert envelope["time"] == "2026-11-01T12:00:15.000Z"
    assert envelope["source"] == "urn:test"
    assert envelope["datacontenttype"] == "application/json"
    assert envelope["storeid"] == "7"
    assert envelope["origin"] == "live"
    assert "backfillwindow" not in envelope
    assert envelope["data"] == {
        "sessionId": "s1",
        "changed": {"customerLastEnteredAt": {"old": None, "new": "2026-11-01T12:00:15.000Z"}},
        "session": raw,
    }


def test_event_ids_are_deterministic_and_distinct_per_transition() -> None:
    raw = record("s1", updated=20, entered=15, exited=18)
    first = change_events(parse_session(raw), apply(None, raw)[0])
    again = change_events(parse_session(raw), apply(None, raw)[0])
    assert [e.id for e in first] == [e.id for e in again]
    assert len({e.id for e in first}) == len(first) == 3


def test_page_records_route_fraud_states_and_dead_letters() -> None:
    parsed = parse_page([record("a", updated=5, fraud=True), {"id": "b", "updatedAt": "nope"}])
    plan = plan_page(parsed, {}, feed_start=at(100), now=at(200), previous_updated_at=None)
    out = page_records(plan, encoding=STRUCTURED, topics=TOPICS, received_at=at(200))
    assert [(r.topic, r.key) for r in out] == [
        ("events", b"a"),
        ("fraud", b"a"),
        ("state", b"a"),
        ("dlq", None),
    ]
    # Structured mode: the CloudEvents content type and no ce_ header (the Python SDK would
    # take one for binary mode).
    assert out[0].headers == (("content-type", b"application/cloudevents+json; charset=UTF-8"),)
    assert orjson.loads(out[0].value)["type"] == "session.suspected_fraud_changed"
    assert orjson.loads(out[0].value)["id"] == out[0].event_id
    for plain in out[2:]:
        assert ("content-type", b"application/json") in plain.headers
        assert not [name for name, _ in plain.headers if name.startswith("ce_")]
    dead = out[3]
    assert orjson.loads(dead.value) == {"id": "b", "updatedAt": "nope"}
    assert dict(dead.headers)["feeder_error_field"] == b"updatedAt"
    assert b"ISO-8601" in dict(dead.headers)["feeder_error_reason"]


def test_lateness_and_order_violations_are_counted() -> None:
    parsed = parse_page([record("a", updated=50), record("b", updated=40)])
    plan = plan_page(parsed, {}, feed_start=at(0), now=at(100), previous_updated_at=at(60))
    assert plan.order_violations == 2
    assert plan.new_version_ages_s == (50.0, 60.0)
    assert plan.max_updated_at == at(50)


def test_a_replayed_version_is_counted_and_a_regressed_one_applied() -> None:
    v1, v2 = record("a", updated=10, entered=5), record("a", updated=20, entered=5, exited=18)
    _, known = apply(first_state(v1), v2)
    slow_writer = record("b", updated=30, entered=25, exited=29)
    _, known_b = apply(first_state(record("b", updated=40, entered=25)), slow_writer)
    parsed = parse_page([v1, record("b", updated=35, entered=25, exited=36)])
    plan = plan_page(
        parsed, {"a": known, "b": known_b}, feed_start=at(0), now=at(100), previous_updated_at=None
    )
    assert plan.replayed == ("a",)
    assert plan.regressed == 1
    assert [event.type.value for event in plan.events] == ["session.exited"]
    assert plan.sessions_read == 2


def test_a_fraud_flip_has_one_id_however_late_the_poller_sees_it() -> None:
    known = first_state(record("s1", updated=10))

    def fraud_id(raw):  # type: ignore[no-untyped-def]
        changes, _ = apply(known, raw)
        [event] = [
            e
            for e in change_events(parse_session(raw), changes)
            if e.type.value.endswith("fraud_changed")
        ]
        return event.id

    seen_early = record("s1", updated=20, fraud=True)
    seen_late = record("s1", updated=30, fraud=True, entered=25)
    assert fraud_id(seen_early) == fraud_id(seen_late)


def test_a_live_feed_and_a_backfill_give_a_single_flip_the_same_id() -> None:
    """The backfill sees the session for the first time, already flagged."""
    created = record("s1", created=1, updated=1)
    flagged = record("s1", created=1, updated=20, fraud=True)
    later = record("s1", created=1, updated=40, fraud=True, entered=30)
    _, known = apply(None, created)
    live, _ = apply(known, flagged)
    backfill, _ = apply(None, later)

    def fraud_ids(changes, raw):  # type: ignore[no-untyped-def]
        return [
            e.id
            for e in change_events(parse_session(raw), changes)
            if e.type.value.endswith("fraud_changed")
        ]

    assert fraud_ids(live, flagged) == fraud_ids(backfill, later)
    assert len(fraud_ids(live, flagged)) == 1


def test_a_second_rise_of_the_flag_gets_a_new_id() -> None:
    known = first_state(record("s1", updated=10))
    first, known = apply(known, record("s1", updated=20, fraud=True))
    _, known = apply(known, record("s1", updated=30, fraud=False))
    second, _ = apply(known, record("s1", updated=40, fraud=True))
    [first_event] = change_events(parse_session(record("s1", updated=20, fraud=True)), first)
    [second_event] = change_events(parse_session(record("s1", updated=40, fraud=True)), second)
    assert first_event.id != second_event.id


@pytest.mark.parametrize(
    "encoding", [STRUCTURED, replace(STRUCTURED, origin=backfill(at(-3600), at(100)))]
)
def test_binary_mode_carries_the_same_event_as_headers_and_data(encoding: EventEncoding) -> None:
    records = [record("a", updated=20, entered=15, fraud=True), record("b", updated=30)]
    structured = page_records(plan_of(records), encoding=encoding, topics=TOPICS, received_at=at(0))
    binary = page_records(
        plan_of(records),
        encoding=replace(encoding, content_mode=ContentMode.BINARY),
        topics=TOPICS,
        received_at=at(0),
    )
    events = [r for r in structured if r.event_type is not None]
    assert len(events) == 5  # a: created, entered, fraud (on events and fraud); b: created
    for whole, split in zip(structured, binary, strict=True):
        assert (whole.topic, whole.key) == (split.topic, split.key)
        if whole.event_type is None:
            assert whole == split  # states and dead letters do not depend on the mode
            continue
        event = orjson.loads(whole.value)
        headers = dict(split.headers)
        assert len(headers) == len(split.headers)
        attributes = {name.removeprefix("ce_"): value.decode() for name, value in headers.items()}
        attributes["datacontenttype"] = attributes.pop("content-type")
        assert attributes == {name: value for name, value in event.items() if name != "data"}
        assert orjson.loads(split.value) == event["data"]


def test_a_backfill_marks_its_events_with_the_window() -> None:
    encoding = replace(BINARY, origin=backfill(at(-3600), at(100)))
    [event, _] = page_records(
        plan_of([record("a", updated=20)]), encoding=encoding, topics=TOPICS, received_at=at(0)
    )
    headers = dict(event.headers)
    assert headers["ce_origin"] == b"backfill"
    assert headers["ce_backfillwindow"] == b"2026-11-01T11:00:00.000Z/2026-11-01T12:01:40.000Z"


def test_the_store_key_strategy_keys_events_by_store_and_states_still_by_session() -> None:
    records = [record("a", updated=20, fraud=True), record("b", updated=30, storeId=None)]
    encoding = replace(STRUCTURED, key_strategy=KeyStrategy.STORE)
    out = page_records(plan_of(records), encoding=encoding, topics=TOPICS, received_at=at(0))
    assert [(r.topic, r.key) for r in out] == [
        ("events", b"7"),
        ("events", b"7"),
        ("fraud", b"7"),
        ("events", b"b"),  # no store: keyed by the session
        ("state", b"a"),
        ("state", b"b"),
    ]


def test_the_field_policy_applies_to_events_states_and_dead_letters() -> None:
    customer = {"email": "jane@example.com", "phone": "+15550001", "firstName": "Jane", "id": "c"}
    records: list[object] = [
        record("a", updated=20, fraud=True, customer=customer, metadata={"note": "x"}),
        {"id": "b", "updatedAt": "nope", "customer": customer},
        ["not", "an", "object", "jane@example.com"],
    ]
    policy = FieldPolicy.of(
        drop=["customer.firstName", "metadata.*"],
        pseudonymise=["customer.email", "customer.phone"],
        key=b"k" * 32,
    )
    encoding = replace(STRUCTURED, field_policy=policy)
    out = page_records(plan_of(records), encoding=encoding, topics=TOPICS, received_at=at(0))
    expected = {
        "email": policy.pseudonym("jane@example.com"),
        "phone": policy.pseudonym("+15550001"),
        "id": "c",
    }
    sessions = [orjson.loads(r.value)["data"]["session"] for r in out if r.event_type]
    assert len(sessions) == 3
    for session in sessions:
        assert session["customer"] == expected
        assert session["metadata"] == {}
    state, dead, withheld = out[-3:]
    assert orjson.loads(state.value)["customer"] == expected
    assert orjson.loads(dead.value) == {"id": "b", "updatedAt": "nope", "customer": expected}
    assert withheld.value == b"null"  # no path can find fields in it: withheld, not leaked
    for written in out:
        assert b"jane" not in written.value.lower()
        assert b"5550001" not in written.value
    assert records[0]["customer"] == customer  # type: ignore[index]  # the input is untouched


def test_structured_records_carry_no_ce_headers_as_the_python_sdk_takes_them_for_binary() -> None:
    """Why structured mode has no ``ce_type``/``ce_id`` beside the value, though the binding
    allows them: the CloudEvents Python SDK 2.x reads any ``ce_`` header as binary mode."""
    [event, _] = page_records(
        plan_of([record("a", updated=20)]), encoding=STRUCTURED, topics=TOPICS, received_at=at(0)
    )
    headers = dict(event.headers)
    decoded = from_kafka(KafkaMessage(headers, event.key, event.value), JSONFormat())
    assert (decoded.get_id(), decoded.get_source()) == (event.event_id, "urn:test")
    routed = {**headers, "ce_type": b"session.created", "ce_id": decoded.get_id().encode()}
    with pytest.raises(CloudEventValidationError, match="source"):
        from_kafka(KafkaMessage(routed, event.key, event.value), JSONFormat())
