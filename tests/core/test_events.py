from __future__ import annotations

import orjson

from feeder.core.events import change_events, cloudevent
from feeder.core.page_plan import parse_page, plan_page
from feeder.core.records import TopicNames, page_records
from feeder.core.snapshot import parse_session
from tests.core.sessions import apply, at, first_state, record

TOPICS = TopicNames("events", "fraud", "state", "dlq")


def test_cloudevent_envelope_carries_the_session_and_the_change() -> None:
    raw = record("s1", updated=20, entered=15, extra_field={"kept": True})
    [event] = change_events(parse_session(raw), apply(None, raw, start=10)[0])
    envelope = cloudevent(event, "urn:test")
    assert envelope["specversion"] == "1.0"
    assert envelope["type"] == "session.entered"
    assert envelope["subject"] == "s1"
    assert envelope["time"] == "2026-11-01T12:00:15.000Z"
    assert envelope["source"] == "urn:test"
    assert envelope["datacontenttype"] == "application/json"
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
    out = page_records(plan, source="urn:test", topics=TOPICS, received_at=at(200))
    assert [(r.topic, r.key) for r in out] == [
        ("events", b"a"),
        ("fraud", b"a"),
        ("state", b"a"),
        ("dlq", None),
    ]
    event_headers = dict(out[0].headers)
    assert event_headers["ce_type"] == b"session.suspected_fraud_changed"
    assert event_headers["content-type"] == b"application/json"
    assert orjson.loads(out[0].value)["id"] == event_headers["ce_id"].decode()
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
    assert plan.records_read == 2


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
