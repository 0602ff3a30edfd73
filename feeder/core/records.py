"""Kafka records for events, latest states and dead letters (bytes in, no client here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson

from feeder.core.diff import EventType
from feeder.core.events import DATA_CONTENT_TYPE, ChangeEvent, cloudevent
from feeder.core.page_plan import DeadLetter, PagePlan
from feeder.core.snapshot import SessionSnapshot
from feeder.core.timestamps import format_timestamp

Headers = tuple[tuple[str, bytes], ...]

# Header names on dead letters; documented in the README.
DLQ_REASON = "feeder_error_reason"
DLQ_FIELD = "feeder_error_field"
DLQ_RECEIVED_AT = "feeder_received_at"


@dataclass(frozen=True, slots=True)
class TopicNames:
    events: str
    fraud: str
    state: str
    dead_letter: str


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One Kafka record; ``change_time`` (for events) feeds the freshness metric;
    ``oversized_from`` names the topic a too-large record was meant for (its stand-in here).
    A ``None`` value is a tombstone."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    event_type: EventType | None = None
    change_time: datetime | None = None
    oversized_from: str | None = None


_JSON = DATA_CONTENT_TYPE.encode()


def event_records(
    event: ChangeEvent, source: str, topics: TopicNames, *, session_json: bytes | None = None
) -> list[OutgoingRecord]:
    """The event on the all-events topic, and on the fraud topic if it is a fraud change.

    ``session_json`` is ``orjson.dumps(event.session)`` when the caller already has it.
    """
    session = None if session_json is None else orjson.Fragment(session_json)
    value = orjson.dumps(cloudevent(event, source, session=session))
    headers: Headers = (
        ("ce_type", event.type.value.encode()),
        ("ce_id", event.id.encode()),
        ("ce_time", format_timestamp(event.time).encode()),
        ("content-type", _JSON),
    )
    key = event.subject.encode()
    destinations = [topics.events]
    if event.type is EventType.SUSPECTED_FRAUD_CHANGED:
        destinations.append(topics.fraud)
    return [
        OutgoingRecord(topic, key, value, headers, event.type, event.time) for topic in destinations
    ]


def state_record(
    snapshot: SessionSnapshot, topics: TopicNames, *, session_json: bytes | None = None
) -> OutgoingRecord:
    """The session as received, keyed by id, for the compacted latest-state topic.

    ``session_json`` is ``orjson.dumps(snapshot.raw)`` when the caller already has it.
    """
    return OutgoingRecord(
        topic=topics.state,
        key=snapshot.session_id.encode(),
        value=orjson.dumps(snapshot.raw) if session_json is None else session_json,
        headers=(("content-type", _JSON),),
    )


def dead_letter_record(
    letter: DeadLetter, topics: TopicNames, received_at: datetime
) -> OutgoingRecord:
    """The raw record kept whole as the value; why it failed in the headers."""
    headers: list[tuple[str, bytes]] = [
        (DLQ_REASON, letter.reason.encode()),
        (DLQ_RECEIVED_AT, format_timestamp(received_at).encode()),
        ("content-type", _JSON),
    ]
    if letter.field is not None:
        headers.insert(1, (DLQ_FIELD, letter.field.encode()))
    return OutgoingRecord(topics.dead_letter, None, orjson.dumps(letter.raw), tuple(headers))


def page_records(
    plan: PagePlan, *, source: str, topics: TopicNames, received_at: datetime
) -> list[OutgoingRecord]:
    """Every record a page produces, events first so consumers see changes before states."""
    # Every event embeds its whole session, and the state record is that session again: encode
    # each session once. Events only come from fresh snapshots, whose raw records the plan keeps
    # alive, so their ids are stable keys here.
    session_json = {id(snapshot.raw): orjson.dumps(snapshot.raw) for snapshot in plan.fresh}
    records: list[OutgoingRecord] = []
    for event in plan.events:
        encoded = session_json.get(id(event.session))
        records.extend(event_records(event, source, topics, session_json=encoded))
    records.extend(
        state_record(snapshot, topics, session_json=session_json[id(snapshot.raw)])
        for snapshot in plan.fresh
    )
    records.extend(dead_letter_record(letter, topics, received_at) for letter in plan.dead_letters)
    return records


def tombstone_record(session_id: str, topics: TopicNames) -> OutgoingRecord:
    """A null value under the key ``state_record`` gives the session: once the state topic is
    compacted, the session is gone from it (the tombstone itself stays ``delete.retention.ms``)."""
    return OutgoingRecord(topic=topics.state, key=session_id.encode(), value=None, headers=())
