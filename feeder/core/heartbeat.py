"""Heartbeat records: the feed's watermarks and counters, so "no changes" and "feed stuck" differ.

A heartbeat goes to the heartbeat topic every ``heartbeat.interval_s``, keyed by the feed name,
as plain JSON (like state records and dead letters, it is not an occurrence in a store). With
``heartbeat.partition_watermarks``, the same document also goes as a CloudEvent of type
``feeder.watermark`` to every partition of the events topic, so stream processors can advance
event time on partitions without changes; consumers that do not want it filter on the type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from feeder.core.encoding import ContentMode, EventEncoding
from feeder.core.events import DATA_CONTENT_TYPE, SPEC_VERSION, uuid5_text
from feeder.core.records import (
    CONTENT_TYPE,
    STRUCTURED_HEADERS,
    OutgoingRecord,
    TopicNames,
    binary_headers,
)
from feeder.core.state import FeedPosition
from feeder.core.timestamps import format_timestamp
from feeder.core.watermarks import Watermark, WatermarkTracker

WATERMARK_EVENT_TYPE = "feeder.watermark"
_JSON = DATA_CONTENT_TYPE.encode()


@dataclass(frozen=True, slots=True)
class FeedCounters:
    """What the feed did since this process started."""

    pages: int = 0
    events: int = 0
    state_records: int = 0
    dead_letters: int = 0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    feed: str
    time: datetime
    started_at: datetime
    sequence: int
    feed_start: datetime
    watermarks: tuple[Watermark, ...]
    last_live_read_at: datetime | None
    counters: FeedCounters


def heartbeat_document(beat: Heartbeat) -> dict[str, object]:
    """The heartbeat as JSON (``schemas/heartbeat.schema.json``)."""
    counters = beat.counters
    return {
        "feed": beat.feed,
        "time": format_timestamp(beat.time),
        "startedAt": format_timestamp(beat.started_at),
        "sequence": beat.sequence,
        "feedStart": format_timestamp(beat.feed_start),
        "watermark": format_timestamp(beat.watermarks[0].watermark),
        "watermarks": [
            {"latenessS": mark.lateness_s, "watermark": format_timestamp(mark.watermark)}
            for mark in beat.watermarks
        ],
        "lastLiveReadAt": (
            None if beat.last_live_read_at is None else format_timestamp(beat.last_live_read_at)
        ),
        "counters": {
            "pages": counters.pages,
            "events": counters.events,
            "stateRecords": counters.state_records,
            "deadLetters": counters.dead_letters,
        },
    }


def heartbeat_records(
    beat: Heartbeat,
    *,
    topic: str,
    encoding: EventEncoding,
    partition_watermarks_topic: str | None,
) -> list[OutgoingRecord]:
    """The heartbeat on ``topic``; with ``partition_watermarks_topic``, also a
    ``feeder.watermark`` CloudEvent meant for every partition of that topic."""
    document = heartbeat_document(beat)
    key = beat.feed.encode()
    records = [
        OutgoingRecord(topic, key, orjson.dumps(document), ((CONTENT_TYPE, _JSON),)),
    ]
    if partition_watermarks_topic is not None:
        records.append(_watermark_event(beat, document, key, encoding, partition_watermarks_topic))
    return records


def _watermark_event(
    beat: Heartbeat,
    document: dict[str, object],
    key: bytes,
    encoding: EventEncoding,
    topic: str,
) -> OutgoingRecord:
    attributes = {
        "specversion": SPEC_VERSION,
        "id": uuid5_text(f"{beat.feed}\x1f{format_timestamp(beat.started_at)}\x1f{beat.sequence}"),
        "source": encoding.source,
        "type": WATERMARK_EVENT_TYPE,
        "time": format_timestamp(beat.time),
        "subject": beat.feed,
        "datacontenttype": DATA_CONTENT_TYPE,
    }
    if encoding.content_mode is ContentMode.STRUCTURED:
        value = orjson.dumps({**attributes, "data": document})
        headers = STRUCTURED_HEADERS
    else:
        value = orjson.dumps(document)
        headers = binary_headers(attributes)
    return OutgoingRecord(topic, key, value, headers, to_every_partition=True)


class FeedActivity:
    """Counts what the sweep did and keeps the watermark tracker; told by the sweep and the poll
    loop (it observes, like the metrics), asked by the heartbeat loop."""

    def __init__(
        self, *, feed: str, started_at: datetime, resumed_at: FeedPosition, topics: TopicNames
    ) -> None:
        self._feed = feed
        self._started_at = started_at
        self._topics = topics
        self._tracker = WatermarkTracker(resumed_at)
        self._sequence = 0
        self._last_live_read_at: datetime | None = None
        self._pages = self._events = self._states = self._dead_letters = 0

    def page_written(self, records: Sequence[OutgoingRecord]) -> None:
        self._pages += 1
        for record in records:
            if record.topic == self._topics.events:
                self._events += 1
            elif record.topic == self._topics.state:
                self._states += 1
            elif record.topic == self._topics.dead_letter:
                self._dead_letters += 1

    def tick_finished(
        self, live_read_at: datetime | None, skipped: Mapping[float, tuple[datetime, datetime]]
    ) -> None:
        self._last_live_read_at = live_read_at
        self._tracker.skipped(skipped)

    def beat(self, now: datetime, position: FeedPosition) -> Heartbeat:
        """The next heartbeat for the committed ``position``."""
        self._sequence += 1
        return Heartbeat(
            feed=self._feed,
            time=now,
            started_at=self._started_at,
            sequence=self._sequence,
            feed_start=position.feed_start,
            watermarks=self._tracker.watermarks(position, self._last_live_read_at),
            last_live_read_at=self._last_live_read_at,
            counters=FeedCounters(self._pages, self._events, self._states, self._dead_letters),
        )
