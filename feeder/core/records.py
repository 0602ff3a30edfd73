"""Kafka records for events, latest states and dead letters (bytes in, no client here).

Events follow the CloudEvents Kafka protocol binding 1.0.2 in the encoding's content mode:

- structured: the value is the whole event as JSON, with only ``content-type:
  application/cloudevents+json; charset=UTF-8`` beside it. No ``ce_`` routing headers: the
  CloudEvents Python SDK (2.2) reads any record with a ``ce_`` header as binary mode and then finds
  no ``source``.
- binary: the value is ``data`` as JSON, ``content-type`` is ``datacontenttype``
  (``application/json``) and every other attribute, extensions included, is a ``ce_<name>``
  header.

State records and dead letters are not CloudEvents (plain JSON, ``content-type:
application/json``, no ``ce_`` header): a compacted table of latest states and a quarantine of
records that failed validation are not occurrences, and no CloudEvents reader should take them
for one. The field policy applies to all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import orjson

from feeder.core.diff import EventType
from feeder.core.encoding import ContentMode, EventEncoding, KeyStrategy
from feeder.core.events import (
    DATA_CONTENT_TYPE,
    SPEC_VERSION,
    TYPE_TEXT,
    ChangeEvent,
    cloudevent,
    event_attributes,
    event_data,
    origin_extensions,
    wire_value,
)
from feeder.core.field_policy import FieldPolicy
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


class OutgoingRecord(NamedTuple):
    """One Kafka record; ``change_time`` (for events) feeds the freshness metric;
    ``oversized_from`` names the topic a too-large record was meant for (its stand-in here);
    ``event_id`` names the event an event record carries; ``to_every_partition``: one copy goes to
    each partition of the topic (a watermark). A ``None`` value is a tombstone.

    A ``NamedTuple`` rather than a frozen dataclass: a page makes over a thousand of them, and a
    frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field) costs about four times
    as much. Immutable all the same.
    """

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    event_type: EventType | None = None
    change_time: datetime | None = None
    oversized_from: str | None = None
    event_id: str | None = None
    to_every_partition: bool = False


CONTENT_TYPE = "content-type"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
CE_PREFIX = "ce_"
_JSON = DATA_CONTENT_TYPE.encode()
STRUCTURED_HEADERS: Headers = ((CONTENT_TYPE, STRUCTURED_CONTENT_TYPE.encode()),)


def binary_headers(attributes: dict[str, str]) -> Headers:
    """The binary mode's headers: ``ce_<name>`` per attribute, ``datacontenttype`` as
    ``content-type``."""
    headers = [
        (CE_PREFIX + name, text.encode())
        for name, text in attributes.items()
        if name != "datacontenttype"
    ]
    headers.append((CONTENT_TYPE, attributes["datacontenttype"].encode()))
    return tuple(headers)


def event_key(event: ChangeEvent, strategy: KeyStrategy) -> bytes:
    """The record key: the session id, or the store id (the session id when it has none)."""
    if strategy is KeyStrategy.STORE and event.store_id is not None:
        return event.store_id.encode()
    return event.subject.encode()


def event_records(
    event: ChangeEvent,
    encoding: EventEncoding,
    topics: TopicNames,
    *,
    session_json: bytes | None = None,
) -> list[OutgoingRecord]:
    """The event on the all-events topic, and on the fraud topic if it is a fraud change.

    ``session_json`` is the event's session already encoded with the field policy applied, when
    the caller has it; otherwise the policy is applied here.
    """
    session: object = (
        encoding.field_policy.apply(event.session)
        if session_json is None
        else orjson.Fragment(session_json)
    )
    if encoding.content_mode is ContentMode.STRUCTURED:
        value = orjson.dumps(cloudevent(event, encoding, session=session))
        headers = STRUCTURED_HEADERS
    else:
        value = orjson.dumps(event_data(event, session=session))
        headers = binary_headers(event_attributes(event, encoding))
    key = event_key(event, encoding.key_strategy)
    record = OutgoingRecord(
        topics.events, key, value, headers, event.type, event.time, None, event.id
    )
    if event.type is EventType.SUSPECTED_FRAUD_CHANGED:
        return [record, record._replace(topic=topics.fraud)]
    return [record]


def state_record(
    snapshot: SessionSnapshot, topics: TopicNames, session_json: bytes
) -> OutgoingRecord:
    """The session as received (after the field policy: ``session_json``), keyed by id, for the
    compacted latest-state topic."""
    return OutgoingRecord(
        topic=topics.state,
        key=snapshot.session_id.encode(),
        value=session_json,
        headers=((CONTENT_TYPE, _JSON),),
    )


def dead_letter_record(
    letter: DeadLetter, topics: TopicNames, received_at: datetime, *, policy: FieldPolicy
) -> OutgoingRecord:
    """The raw record as the value, kept whole but for the field policy; why it failed in the
    headers."""
    headers: list[tuple[str, bytes]] = [
        (DLQ_REASON, letter.reason.encode()),
        (DLQ_RECEIVED_AT, format_timestamp(received_at).encode()),
        (CONTENT_TYPE, _JSON),
    ]
    if letter.field is not None:
        headers.insert(1, (DLQ_FIELD, letter.field.encode()))
    value = orjson.dumps(policy.apply_to_raw(letter.raw))
    return OutgoingRecord(topics.dead_letter, None, value, tuple(headers))


def page_records(
    plan: PagePlan, *, encoding: EventEncoding, topics: TopicNames, received_at: datetime
) -> list[OutgoingRecord]:
    """Every record a page produces, events first so consumers see changes before states."""
    # Every event embeds its whole session, and the state record is that session again: apply
    # the field policy to each session and encode it once. Events only come from fresh
    # snapshots, whose raw records the plan keeps alive, so their ids are stable keys here.
    policy = encoding.field_policy
    session_json = {
        id(snapshot.raw): orjson.dumps(policy.apply(snapshot.raw)) for snapshot in plan.fresh
    }
    if encoding.content_mode is ContentMode.STRUCTURED:
        records = _structured_event_records(plan, encoding, topics, session_json)
    else:
        records = []
        for event in plan.events:
            encoded = session_json.get(id(event.session))
            records.extend(event_records(event, encoding, topics, session_json=encoded))
    records.extend(
        state_record(snapshot, topics, session_json[id(snapshot.raw)]) for snapshot in plan.fresh
    )
    records.extend(
        dead_letter_record(letter, topics, received_at, policy=policy)
        for letter in plan.dead_letters
    )
    return records


def _structured_event_records(
    plan: PagePlan, encoding: EventEncoding, topics: TopicNames, session_json: dict[int, bytes]
) -> list[OutgoingRecord]:
    """:func:`event_records` of every event of a page in structured mode, in one loop.

    The same document as :func:`~feeder.core.events.cloudevent` (same keys in the same order,
    so the same bytes; ``bench/core_stages.py`` prints digests to compare), built without its
    five calls per event; each session's ``Fragment`` and key are made once per page.
    """
    source, extensions = encoding.source, origin_extensions(encoding.origin)
    by_store = encoding.key_strategy is KeyStrategy.STORE
    events_topic, fraud_topic, fraud = (
        topics.events,
        topics.fraud,
        EventType.SUSPECTED_FRAUD_CHANGED,
    )
    fragments: dict[int, object] = {}
    records: list[OutgoingRecord] = []
    append = records.append
    dumps = orjson.dumps
    for event in plan.events:
        session = fragments.get(id(event.session))
        if session is None:
            encoded = session_json.get(id(event.session))
            session = fragments[id(event.session)] = (
                encoding.field_policy.apply(event.session)
                if encoded is None
                else orjson.Fragment(encoded)
            )
        change, subject, store_id = event.change, event.subject, event.store_id
        document: dict[str, object] = {
            "specversion": SPEC_VERSION,
            "id": event.id,
            "source": source,
            "type": TYPE_TEXT[event.type],
            "time": format_timestamp(event.time),
            "subject": subject,
            "datacontenttype": DATA_CONTENT_TYPE,
        }
        if store_id is not None:
            document["storeid"] = store_id
        document.update(extensions)
        document["data"] = {
            "sessionId": subject,
            "changed": {
                change.field: {"old": wire_value(change.old), "new": wire_value(change.new)}
            },
            "session": session,
        }
        key = (store_id if by_store and store_id is not None else subject).encode()
        record = OutgoingRecord(
            events_topic,
            key,
            dumps(document),
            STRUCTURED_HEADERS,
            event.type,
            event.time,
            None,
            event.id,
        )
        append(record)
        if event.type is fraud:
            append(record._replace(topic=fraud_topic))
    return records


def tombstone_record(session_id: str, topics: TopicNames) -> OutgoingRecord:
    """A null value under the key ``state_record`` gives the session: once the state topic is
    compacted, the session is gone from it (the tombstone itself stays ``delete.retention.ms``)."""
    return OutgoingRecord(topic=topics.state, key=session_id.encode(), value=None, headers=())
