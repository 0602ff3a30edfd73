"""Records too large for Kafka are replaced by a small dead letter instead of blocking the feed.

Kafka refuses a record over the topic's ``max.message.bytes``; retrying it would stall the feed
forever on one huge session. The stand-in on the dead-letter topic says which record it was
(topic, key, size, its headers, and for an event its id and type) and why; the raw record cannot
be kept whole there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson

from feeder.core.records import (
    DLQ_REASON,
    DLQ_RECEIVED_AT,
    OutgoingRecord,
    TopicNames,
)
from feeder.core.timestamps import format_timestamp


def record_bytes(record: OutgoingRecord) -> int:
    """The value's size; a tombstone has none."""
    return 0 if record.value is None else len(record.value)


def _stand_in(
    record: OutgoingRecord, max_record_bytes: int, topics: TopicNames, received_at: datetime
) -> OutgoingRecord:
    size = record_bytes(record)
    reason = (
        f"a record of {size} bytes for {record.topic} exceeds FEEDER_KAFKA__MAX_RECORD_BYTES="
        f"{max_record_bytes}; not sent"
    )
    document: dict[str, object] = {
        "reason": reason,
        "topic": record.topic,
        "key": None if record.key is None else record.key.decode(errors="replace"),
        "bytes": size,
        "headers": {name: data.decode(errors="replace") for name, data in record.headers},
    }
    if record.event_type is not None:
        # A structured-mode event has no ce_ headers to say which event it was.
        document["event"] = {"id": record.event_id, "type": record.event_type.value}
    value = orjson.dumps(document)
    headers = (
        (DLQ_REASON, reason.encode()),
        (DLQ_RECEIVED_AT, format_timestamp(received_at).encode()),
        ("content-type", b"application/json"),
    )
    return OutgoingRecord(
        topics.dead_letter, record.key, value, headers, oversized_from=record.topic
    )


def bound_sizes(
    records: Sequence[OutgoingRecord],
    *,
    max_record_bytes: int,
    topics: TopicNames,
    received_at: datetime,
) -> list[OutgoingRecord]:
    """``records`` with every value over ``max_record_bytes`` replaced by its stand-in."""
    return [
        record
        if record_bytes(record) <= max_record_bytes
        else _stand_in(record, max_record_bytes, topics, received_at)
        for record in records
    ]
