"""What ``feeder tail`` does with one Kafka record: decode it, filter it, print it.

Pure functions over bytes; the consumer loop lives in :mod:`feeder.commands.tail`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import orjson

from feeder.core.records import CE_PREFIX, CONTENT_TYPE, DLQ_FIELD, DLQ_REASON, DLQ_RECEIVED_AT
from feeder.settings import TopicSettings

_RAW_PREVIEW_CHARS = 160


class TopicKind(StrEnum):
    """feeder's topics, by the setting that names them (``FEEDER_KAFKA__TOPICS__*``)."""

    EVENTS = "events"
    FRAUD = "fraud"
    STATE = "state"
    DLQ = "dlq"

    def topic_name(self, topics: TopicSettings) -> str:
        return {
            TopicKind.EVENTS: topics.events,
            TopicKind.FRAUD: topics.fraud,
            TopicKind.STATE: topics.state,
            TopicKind.DLQ: topics.dead_letter,
        }[self]


@dataclass(frozen=True, slots=True)
class TailedRecord:
    """One consumed record, decoded as far as it decodes."""

    kind: TopicKind
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: Mapping[str, str]
    value: Any  # parsed JSON, or None when the value is not JSON
    raw_value: bytes

    @property
    def event_type(self) -> str | None:
        if self.kind not in (TopicKind.EVENTS, TopicKind.FRAUD):
            return None
        if isinstance(self.value, dict) and isinstance(self.value.get("type"), str):
            return str(self.value["type"])
        return None

    @property
    def session(self) -> Mapping[str, Any] | None:
        """The API's session record carried by this record, if any."""
        value = self.value
        if not isinstance(value, dict):
            return None
        if self.kind in (TopicKind.EVENTS, TopicKind.FRAUD):
            data = value.get("data")
            session = data.get("session") if isinstance(data, dict) else None
            return session if isinstance(session, dict) else None
        return value

    @property
    def session_id(self) -> str | None:
        # An event's key may be its store (FEEDER_EVENTS__KEY_STRATEGY=store); its subject is not.
        value = self.value
        is_event = self.kind in (TopicKind.EVENTS, TopicKind.FRAUD)
        if is_event and isinstance(value, dict) and isinstance(value.get("subject"), str):
            return str(value["subject"])
        if self.key is not None:
            return self.key
        session = self.session
        return None if session is None or session.get("id") is None else str(session["id"])

    @property
    def store_id(self) -> str | None:
        if isinstance(self.value, dict) and isinstance(self.value.get("storeid"), str):
            return str(self.value["storeid"])
        session = self.session
        store = None if session is None else session.get("storeId")
        return None if store is None else str(store)


class ConsumedMessage(Protocol):
    """The fields of aiokafka's ``ConsumerRecord`` that tail reads."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


def _structured(headers: Mapping[str, str], data: Any) -> dict[str, Any]:
    """A binary-mode event as the one JSON object structured mode would have carried."""
    event: dict[str, Any] = {
        name.removeprefix(CE_PREFIX): text
        for name, text in headers.items()
        if name.startswith(CE_PREFIX)
    }
    if CONTENT_TYPE in headers:
        event["datacontenttype"] = headers[CONTENT_TYPE]
    event["data"] = data
    return event


def decode(kind: TopicKind, message: ConsumedMessage) -> TailedRecord:
    """The record; an event in binary mode is shown as its structured-mode JSON object."""
    raw = message.value or b""
    try:
        parsed: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    headers = {name: data.decode(errors="replace") for name, data in message.headers}
    if kind in (TopicKind.EVENTS, TopicKind.FRAUD) and f"{CE_PREFIX}specversion" in headers:
        parsed = _structured(headers, parsed)
    return TailedRecord(
        kind=kind,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=None if message.key is None else message.key.decode(errors="replace"),
        headers=headers,
        value=parsed,
        raw_value=raw,
    )


@dataclass(frozen=True, slots=True)
class TailFilter:
    """Empty collections match everything; a type filter drops records that have no type."""

    types: Collection[str] = ()
    stores: Collection[str] = ()
    sessions: Collection[str] = ()

    def matches(self, record: TailedRecord) -> bool:
        if self.types and record.event_type not in self.types:
            return False
        if self.stores and record.store_id not in self.stores:
            return False
        return not self.sessions or record.session_id in self.sessions


def _show(value: object) -> str:
    return orjson.dumps(value).decode() if not isinstance(value, str) else value


def format_line(record: TailedRecord) -> str:
    """One human line per record."""
    where = f"[{record.topic}/{record.partition}@{record.offset}]"
    store = record.store_id or "-"
    value = record.value
    if record.kind is TopicKind.DLQ:
        preview = record.raw_value.decode(errors="replace")
        if len(preview) > _RAW_PREVIEW_CHARS:
            preview = preview[:_RAW_PREVIEW_CHARS] + "…"
        return (
            f"{record.headers.get(DLQ_RECEIVED_AT, '?')}  dead letter  "
            f"field={record.headers.get(DLQ_FIELD, '-')}  "
            f"reason={record.headers.get(DLQ_REASON, '?')!r}  raw={preview}  {where}"
        )
    if not isinstance(value, dict):
        return f"?  not a JSON object ({len(record.raw_value)} bytes)  {where}"
    if record.kind is TopicKind.STATE:
        return (
            f"{value.get('updatedAt', '?')}  state  session={record.session_id} store={store}  "
            f"status={_show(value.get('status'))} "
            f"suspectedFraud={_show(value.get('suspectedFraud', False))}  {where}"
        )
    data = value.get("data")
    changed = data.get("changed") if isinstance(data, dict) else None
    changes = (
        "  ".join(
            f"{field}: {_show(pair.get('old'))} -> {_show(pair.get('new'))}"
            for field, pair in changed.items()
            if isinstance(pair, dict)
        )
        if isinstance(changed, dict)
        else "?"
    )
    return (
        f"{value.get('time', '?')}  {record.event_type or '?'}  "
        f"session={record.session_id} store={store}  {changes}  {where}"
    )


def format_json(record: TailedRecord) -> str:
    """One JSON object per record: the value, and for dead letters the headers too."""
    if record.kind is TopicKind.DLQ:
        document: object = {
            "key": record.key,
            "headers": dict(record.headers),
            "value": record.value,
        }
    else:
        document = record.value
    return orjson.dumps(document).decode()
