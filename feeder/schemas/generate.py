"""The files under ``schemas/``: one JSON Schema per record feeder publishes, and an example each.

Per event type ``T``: ``T.schema.json`` is the CloudEvent (the value of a structured-mode record)
and ``T.binary.schema.json`` the whole binary-mode record (key, ``ce_`` headers, ``data`` as the
value). Examples are not written by hand: one simulated visit (created, code scanned, entered,
flagged, left, closed) is diffed and encoded by :mod:`feeder.core`, so every example is a real
event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import CoreSchema

from feeder.core.diff import EventType, apply_version
from feeder.core.encoding import ContentMode, EventEncoding
from feeder.core.events import ChangeEvent, change_events
from feeder.core.field_policy import KEEP_EVERYTHING
from feeder.core.heartbeat import WATERMARK_EVENT_TYPE, FeedActivity, heartbeat_records
from feeder.core.page_plan import parse_page
from feeder.core.records import (
    OutgoingRecord,
    TopicNames,
    cloudevent,
    dead_letter_record,
    event_records,
)
from feeder.core.snapshot import parse_session
from feeder.core.state import FeedPosition, SessionState, fingerprint
from feeder.core.timestamps import format_timestamp
from feeder.schemas.models import (
    DeadLetterRecord,
    Heartbeat,
    Session,
    WatermarkEvent,
    binary_event_record_model,
    event_model,
)
from feeder.settings import EventSettings, FeederSettings, SweepSettings, TopicSettings

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:feeder:schema:"
STATE_NAME = "session-state"
DEAD_LETTER_NAME = "dead-letter"
HEARTBEAT_NAME = "heartbeat"
WATERMARK_NAME = WATERMARK_EVENT_TYPE
EXAMPLE_ENCODING = EventEncoding(source=EventSettings().source)
BINARY_SUFFIX = ".binary"
_EXAMPLE_START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class _ContractSchema(GenerateJsonSchema):
    """pydantic's generator without the titles it derives from Python attribute names."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


def _schema(model: type[BaseModel], name: str) -> dict[str, Any]:
    body = model.model_json_schema(by_alias=True, schema_generator=_ContractSchema)
    return {"$schema": DIALECT, "$id": f"{ID_PREFIX}{name}", **body}


def binary_name(event_type: EventType) -> str:
    """The document name of ``event_type``'s binary-mode record."""
    return f"{event_type.value}{BINARY_SUFFIX}"


def schema_names() -> list[str]:
    """Every document name, event types first (file ``<name>.schema.json``)."""
    return (
        [event_type.value for event_type in EventType]
        + [binary_name(event_type) for event_type in EventType]
        + [STATE_NAME, DEAD_LETTER_NAME, HEARTBEAT_NAME, WATERMARK_NAME]
    )


def schema_documents() -> dict[str, dict[str, Any]]:
    """Every JSON Schema, by document name."""
    documents = {
        event_type.value: _schema(event_model(event_type), event_type.value)
        for event_type in EventType
    }
    for event_type in EventType:
        name = binary_name(event_type)
        documents[name] = _schema(binary_event_record_model(event_type), name)
    documents[STATE_NAME] = _schema(Session, STATE_NAME)
    documents[DEAD_LETTER_NAME] = _schema(DeadLetterRecord, DEAD_LETTER_NAME)
    documents[HEARTBEAT_NAME] = _schema(Heartbeat, HEARTBEAT_NAME)
    documents[WATERMARK_NAME] = _schema(WatermarkEvent, WATERMARK_NAME)
    return documents


def example_session_record(**changes: object) -> dict[str, object]:
    """A session record shaped like the API's documentation, with ``changes`` applied."""
    created = format_timestamp(_EXAMPLE_START)
    record: dict[str, object] = {
        "id": "5012",
        "createdAt": created,
        "updatedAt": created,
        "code": "c69bb289-1190-4156-b9f6-bfb7f61e85db",
        "codeFirstSuccesfullyScannedAt": None,
        "codeLastSuccesfullyScannedAt": None,
        "customerFirstEnteredAt": None,
        "customerLastEnteredAt": None,
        "customerFirstExitedAt": None,
        "customerLastExitedAt": None,
        "groupSize": 1,
        "sessionToken": "d3a00526-1864-4f6e-bb2d-46e3ab7fa780",
        "sessionId": "d3a00526-1864-4f6e-bb2d-46e3ab7fa780",
        "status": "active",
        "storeId": 17,
        "suspectedFraud": False,
        "metadata": {"events": []},
        "expiresAt": format_timestamp(_EXAMPLE_START + timedelta(minutes=30)),
        "customerId": "c-8841",
    }
    record.update(changes)
    return record


def _visit_steps() -> list[dict[str, object]]:
    """One visit, one change per step."""

    def at(seconds: int) -> str:
        return format_timestamp(_EXAMPLE_START + timedelta(seconds=seconds))

    scanned = {"codeFirstSuccesfullyScannedAt": at(20), "codeLastSuccesfullyScannedAt": at(20)}
    entered = {**scanned, "customerFirstEnteredAt": at(31), "customerLastEnteredAt": at(31)}
    flagged = {**entered, "suspectedFraud": True}
    exited = {**flagged, "customerFirstExitedAt": at(412), "customerLastExitedAt": at(412)}
    return [
        example_session_record(),
        example_session_record(updatedAt=at(20), **scanned),
        example_session_record(updatedAt=at(31), **entered),
        example_session_record(updatedAt=at(300), **flagged),
        example_session_record(updatedAt=at(412), **exited),
        example_session_record(updatedAt=at(413), status="closed", **exited),
    ]


def example_events() -> dict[EventType, ChangeEvent]:
    """The first event of each type in the example visit; every type must occur."""
    found: dict[EventType, ChangeEvent] = {}
    known: SessionState | None = None
    for record in _visit_steps():
        snapshot = parse_session(record)
        changes, known = apply_version(known, snapshot, fingerprint(snapshot), _EXAMPLE_START)
        for event in change_events(snapshot, changes):
            found.setdefault(event.type, event)
    missing = [event_type.value for event_type in EventType if event_type not in found]
    if missing:
        raise RuntimeError(f"the example visit produces no {', '.join(missing)} event; extend it")
    return found


def record_document(
    key: bytes | None, headers: Iterable[tuple[str, bytes]], value: bytes | None
) -> dict[str, Any]:
    """A Kafka record (a dead letter, a binary-mode event) as the JSON document its schema
    describes: the key and headers as text, the value as JSON."""
    return {
        "key": None if key is None else key.decode(),
        "headers": {name: raw.decode() for name, raw in headers},
        "value": None if value is None else orjson.loads(value),
    }


def example_documents() -> dict[str, Any]:
    """One example per document name."""
    settings = TopicSettings()
    topics = TopicNames(settings.events, settings.fraud, settings.state, settings.dead_letter)
    binary = replace(EXAMPLE_ENCODING, content_mode=ContentMode.BINARY)
    examples: dict[str, Any] = {}
    for event_type, event in sorted(example_events().items()):
        examples[event_type.value] = cloudevent(event, EXAMPLE_ENCODING)
        record = event_records(event, binary, topics)[0]
        examples[binary_name(event_type)] = record_document(
            record.key, record.headers, record.value
        )
    examples[STATE_NAME] = _visit_steps()[-1]
    bad = example_session_record(updatedAt="yesterday afternoon")
    (letter,) = parse_page([bad]).dead_letters
    record = dead_letter_record(
        letter, topics, _EXAMPLE_START + timedelta(seconds=1), policy=KEEP_EVERYTHING
    )
    examples[DEAD_LETTER_NAME] = record_document(record.key, record.headers, record.value)
    heartbeat, watermark = example_heartbeat_records(topics)
    examples[HEARTBEAT_NAME] = orjson.loads(heartbeat.value or b"null")
    examples[WATERMARK_NAME] = orjson.loads(watermark.value or b"null")
    return examples


def example_heartbeat_records(topics: TopicNames) -> list[OutgoingRecord]:
    """A heartbeat of a feed 20 minutes old, caught up, at the default settings: the heartbeat
    topic's record and the events topic's ``feeder.watermark`` event."""
    now = _EXAMPLE_START + timedelta(minutes=20)
    live = now - timedelta(milliseconds=830)
    delays = SweepSettings().all_reread_delays_s
    position = FeedPosition(
        _EXAMPLE_START,
        live,
        tuple((delay, min(live, now - timedelta(seconds=delay + 0.4))) for delay in delays),
    )
    activity = FeedActivity(
        feed=FeederSettings.model_fields["feed_name"].default,
        started_at=_EXAMPLE_START,
        resumed_at=FeedPosition.starting(_EXAMPLE_START, delays),
        topics=topics,
    )
    activity.tick_finished(now - timedelta(milliseconds=810), {})
    return heartbeat_records(
        activity.beat(now, position),
        topic=TopicSettings().heartbeat,
        encoding=EXAMPLE_ENCODING,
        partition_watermarks_topic=topics.events,
    )


def _json_text(document: object) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_files() -> dict[str, str]:
    """Every generated file's text, by path relative to the schemas folder."""
    schemas = schema_documents()
    examples = example_documents()
    files: dict[str, str] = {}
    for name in schema_names():
        files[f"{name}.schema.json"] = _json_text(schemas[name])
        files[f"examples/{name}.json"] = _json_text(examples[name])
    return files


def write_files(out_dir: Path, files: Mapping[str, str] | None = None) -> list[Path]:
    """Write every generated file under ``out_dir``; return the paths written."""
    written = []
    for relative, text in (files or render_files()).items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_files(out_dir: Path) -> list[str]:
    """Paths under ``out_dir`` that differ from the generator: changed, missing or unknown JSON."""
    files = render_files()
    stale = [
        relative
        for relative, text in files.items()
        if not (out_dir / relative).is_file()
        or (out_dir / relative).read_text(encoding="utf-8") != text
    ]
    present = {path.relative_to(out_dir).as_posix() for path in out_dir.rglob("*.json")}
    stale.extend(sorted(present - files.keys()))
    return stale
