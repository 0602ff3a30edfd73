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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, cast

import orjson

from feeder.core.diff import EventType
from feeder.core.encoding import ContentMode, EventEncoding, KeyStrategy
from feeder.core.events import (
    DATA_CONTENT_TYPE,
    SPEC_VERSION,
    TYPE_TEXT,
    ChangeEvent,
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
_FRAUD_CHANGE = EventType.SUSPECTED_FRAUD_CHANGED


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


class EventEncoder:
    """The one encoder of change events: :meth:`document` is the whole CloudEvent, and an
    event's Kafka records (:meth:`records`) carry it in the encoding's content mode, both built
    from the same attributes (structured: the document as the value; binary: its ``data`` as
    the value and every other attribute as a ``ce_`` header).

    Made once per page (or per event outside the sweep): what is the same for every event of a
    run (source, extensions, key strategy, field policy, topics) is looked up once, and a page's
    events (over a thousand) are encoded in one loop, each session once for all its events.
    """

    __slots__ = (
        "_by_store",
        "_events_topic",
        "_extensions",
        "_fraud_topic",
        "_policy",
        "_source",
        "_structured",
    )

    def __init__(self, encoding: EventEncoding, topics: TopicNames | None = None) -> None:
        self._source = encoding.source
        self._extensions = origin_extensions(encoding.origin)
        self._by_store = encoding.key_strategy is KeyStrategy.STORE
        self._structured = encoding.content_mode is ContentMode.STRUCTURED
        self._policy = encoding.field_policy
        self._events_topic = "" if topics is None else topics.events
        self._fraud_topic = "" if topics is None else topics.fraud

    def document(self, event: ChangeEvent, session: object) -> dict[str, object]:
        """The event as one JSON object: every context attribute (the required and optional
        ones, then the extensions ``storeid`` when the session has one, ``origin`` and, for a
        backfill, ``backfillwindow``), then ``data``: the session id, the change with its old
        and new value, and ``session`` (``event.session`` after the field policy, often already
        encoded as an ``orjson.Fragment``, so a session with several events is serialised
        once)."""
        change, subject, store_id = event.change, event.subject, event.store_id
        document: dict[str, object] = {
            "specversion": SPEC_VERSION,
            "id": event.id,
            "source": self._source,
            "type": TYPE_TEXT[event.type],
            "time": format_timestamp(event.time),
            "subject": subject,
            "datacontenttype": DATA_CONTENT_TYPE,
        }
        if store_id is not None:
            document["storeid"] = store_id
        document.update(self._extensions)
        document["data"] = {
            "sessionId": subject,
            "changed": {
                change.field: {"old": wire_value(change.old), "new": wire_value(change.new)}
            },
            "session": session,
        }
        return document

    def records(
        self, events: Iterable[ChangeEvent], session_json: Mapping[int, bytes]
    ) -> list[OutgoingRecord]:
        """Every event's records: one on the all-events topic, and one more on the fraud topic
        for a fraud change. ``session_json`` holds, by ``id()`` of an event's session, the
        session already encoded with the field policy applied; the policy is applied here to
        the others. The key is the session id, or the store id (the session id when it has
        none)."""
        document_of, structured, by_store = self.document, self._structured, self._by_store
        events_topic, fraud_topic = self._events_topic, self._fraud_topic
        fragments: dict[int, object] = {}
        records: list[OutgoingRecord] = []
        append, dumps = records.append, orjson.dumps
        for event in events:
            session = fragments.get(id(event.session))
            if session is None:
                encoded = session_json.get(id(event.session))
                session = fragments[id(event.session)] = (
                    self._policy.apply(event.session)
                    if encoded is None
                    else orjson.Fragment(encoded)
                )
            document = document_of(event, session)
            if structured:
                value = dumps(document)
                headers = STRUCTURED_HEADERS
            else:
                value = dumps(document.pop("data"))
                headers = binary_headers(cast(dict[str, str], document))  # attributes are text
            store_id = event.store_id
            key = store_id if by_store and store_id is not None else event.subject
            record = OutgoingRecord(
                events_topic,
                key.encode(),
                value,
                headers,
                event.type,
                event.time,
                None,
                event.id,
            )
            append(record)
            if event.type is _FRAUD_CHANGE:
                append(record._replace(topic=fraud_topic))
        return records


def cloudevent(
    event: ChangeEvent, encoding: EventEncoding, *, session: object = None
) -> dict[str, object]:
    """The whole event as one JSON object (the structured mode's value).

    ``session`` stands in for ``event.session`` (see :meth:`EventEncoder.document`); by default
    it is ``event.session`` with the encoding's field policy applied.
    """
    if session is None:
        session = encoding.field_policy.apply(event.session)
    return EventEncoder(encoding).document(event, session)


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
    encoded = {} if session_json is None else {id(event.session): session_json}
    return EventEncoder(encoding, topics).records([event], encoded)


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
    records = EventEncoder(encoding, topics).records(plan.events, session_json)
    records.extend(
        state_record(snapshot, topics, session_json[id(snapshot.raw)]) for snapshot in plan.fresh
    )
    records.extend(
        dead_letter_record(letter, topics, received_at, policy=policy)
        for letter in plan.dead_letters
    )
    return records


def tombstone_record(session_id: str, topics: TopicNames) -> OutgoingRecord:
    """A null value under the key ``state_record`` gives the session: once the state topic is
    compacted, the session is gone from it (the tombstone itself stays ``delete.retention.ms``)."""
    return OutgoingRecord(topic=topics.state, key=session_id.encode(), value=None, headers=())
