from __future__ import annotations

import orjson

from feeder.core.diff import diff_session
from feeder.core.events import change_events, cloudevent
from feeder.core.page_plan import parse_page, plan_page
from feeder.core.records import TopicNames, page_records
from feeder.core.snapshot import parse_session
from tests.core.sessions import at, record

TOPICS = TopicNames("events", "fraud", "state", "dlq")


def test_cloudevent_envelope_carries_the_session_and_the_change() -> None:
    raw = record("s1", updated=20, entered=15, extra_field={"kept": True})
    [event] = change_events(parse_session(raw), diff_session(None, parse_session(raw), at(10)))
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
    first = change_events(parse_session(raw), diff_session(None, parse_session(raw), at(0)))
    again = change_events(parse_session(raw), diff_session(None, parse_session(raw), at(0)))
    assert [e.id for e in first] == [e.id for e in again]
    assert len({e.id for e in first}) == len(first) == 3


def test_page_records_route_fraud_states_and_dead_letters() -> None:
    parsed = parse_page([record("a", updated=5, fraud=True), {"id": "b", "updatedAt": "nope"}])
    plan = plan_page(
        parsed, {}, feed_start=at(100), late_before=at(100), now=at(200), previous_updated_at=None
    )
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


def test_late_records_and_order_violations_are_counted() -> None:
    parsed = parse_page([record("a", updated=50), record("b", updated=40)])
    plan = plan_page(
        parsed, {}, feed_start=at(0), late_before=at(45), now=at(100), previous_updated_at=at(60)
    )
    assert plan.order_violations == 2
    assert plan.late_ages_s == (60.0,)
    assert plan.max_updated_at == at(50)


def test_a_fraud_flip_has_one_id_however_late_the_poller_sees_it() -> None:
    from feeder.core.state import SessionState  # noqa: PLC0415

    known = SessionState.of(parse_session(record("s1", updated=10)))
    seen_early = parse_session(record("s1", updated=20, fraud=True))
    seen_late = parse_session(record("s1", updated=30, fraud=True, entered=25))

    def fraud_id(snapshot):  # type: ignore[no-untyped-def]
        changes = diff_session(known, snapshot, at(0))
        [event] = [
            e for e in change_events(snapshot, changes) if e.type.value.endswith("fraud_changed")
        ]
        return event.id

    assert fraud_id(seen_early) == fraud_id(seen_late)
    flipped_back = SessionState.of(parse_session(record("s1", updated=40, fraud=False)))
    again = parse_session(record("s1", updated=50, fraud=True))
    [second] = change_events(again, diff_session(flipped_back, again, at(0)))
    assert second.id != fraud_id(seen_early)
