"""Events for audit tests, made by feeder's own diff and encoder from API-shaped records."""

from __future__ import annotations

import itertools

from feeder.audit.published import PublishedEvent, decode_event
from feeder.core.encoding import EventEncoding
from feeder.core.events import change_events
from feeder.core.records import TopicNames, event_records
from feeder.core.snapshot import SessionSnapshot, parse_session
from feeder.core.state import SessionState
from feeder.core.timestamps import EPOCH
from tests.core.sessions import apply_snapshot

TOPICS = TopicNames("events", "fraud", "state", "dlq")
_offsets = itertools.count()


def snapshot(raw: dict[str, object]) -> SessionSnapshot:
    return parse_session(raw)


def feed(*versions: dict[str, object]) -> list[PublishedEvent]:
    """What a feed that saw these versions of one session, in order, published."""
    known: SessionState | None = None
    published = []
    for version in versions:
        seen = parse_session(version)
        changes, known = apply_snapshot(known, seen, EPOCH)
        for event in change_events(seen, changes):
            record = event_records(event, EventEncoding(source="urn:test"), TOPICS)[0]
            decoded = decode_event(
                record.key, record.headers, record.value, partition=0, offset=next(_offsets)
            )
            assert decoded is not None
            published.append(decoded)
    return published
