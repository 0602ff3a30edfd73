"""An event as the audit reads it back from Kafka, in either CloudEvents content mode.

Per the CloudEvents Kafka protocol binding: *structured* records carry the whole event as the
value (``content-type: application/cloudevents+json``); *binary* records carry ``data`` as the
value and every other attribute in a ``ce_<name>`` header. A value that is a JSON object with a
``specversion`` is read as structured whatever its content type, which covers the records
feeder wrote before it followed the binding (``content-type: application/json``, the whole
event in the value, a few ``ce_`` headers for routing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from feeder.core.timestamps import parse_timestamp

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    """What the audit needs of one event; ``new`` is ``data.changed.<field>.new``."""

    id: str
    type: str
    subject: str
    time: datetime
    new: object
    partition: int
    offset: int


def _attributes_and_data(
    headers: Mapping[str, str], value: object
) -> tuple[Mapping[str, object], object]:
    content_type = headers.get("content-type", "")
    structured = content_type.startswith(STRUCTURED_CONTENT_TYPE) or (
        isinstance(value, dict) and "specversion" in value
    )
    if structured:
        envelope = value if isinstance(value, dict) else {}
        return envelope, envelope.get("data")
    attributes = {name[3:]: text for name, text in headers.items() if name.startswith("ce_")}
    return attributes, value


def _new_value(data: object) -> object:
    changed = data.get("changed") if isinstance(data, dict) else None
    if not isinstance(changed, dict) or len(changed) != 1:
        return None
    (change,) = changed.values()
    return change.get("new") if isinstance(change, dict) else None


def decode_event(
    key: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    value: bytes | None,
    *,
    partition: int,
    offset: int,
) -> PublishedEvent | None:
    """The event in one record, or ``None`` when the record is not a readable event."""
    named = {name.lower(): data.decode(errors="replace") for name, data in headers}
    try:
        parsed: object = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        parsed = None
    attributes, data = _attributes_and_data(named, parsed)
    event_id, event_type, time = (attributes.get(name) for name in ("id", "type", "time"))
    subject = attributes.get("subject") or (None if key is None else key.decode(errors="replace"))
    if not all(isinstance(text, str) and text for text in (event_id, event_type, time, subject)):
        return None
    try:
        moment = parse_timestamp(str(time))
    except ValueError:
        return None
    return PublishedEvent(
        id=str(event_id),
        type=str(event_type),
        subject=str(subject),
        time=moment,
        new=_new_value(data),
        partition=partition,
        offset=offset,
    )
