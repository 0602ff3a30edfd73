"""Visible → Kafka for every transition: the simulator's ground truth against the events topic.

Each transition the simulator made (its JSONL ground truth) has the moment it became visible
through the API. Its event is found on the events topic — a moment by its session, type and own
time; a fraud or status change by its session, type and new value, the first such event
appended after it became visible — and its latency is the broker's append time (the topics use
``LogAppendTime``) minus that moment. A transition with no event was either replaced before any
poll could see it or lost: both are counted, not hidden.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from kafka_io import percentile

from feeder.core.timestamps import parse_timestamp
from feeder.simulator.ground_truth import Transition, read_jsonl

TYPE_OF_KIND = {
    "created": "session.created",
    "entered": "session.entered",
    "exited": "session.exited",
    "code_scanned": "session.code_scanned",
    "suspected_fraud_changed": "session.suspected_fraud_changed",
    "status_changed": "session.status_changed",
}
TOGGLES = frozenset({"suspected_fraud_changed", "status_changed"})
LATENESS_BUCKETS_S = ((0.5, 5.0), (5.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 300.0))
LATE_FROM_MS = 500  # visible this much after its updatedAt: a late commit


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    session_id: str
    type: str
    time_ms: int
    new: object
    appended_ms: int


async def read_events(bootstrap: str, topic: str, *, idle_s: float = 3.0) -> list[PublishedEvent]:
    """Every event on ``topic`` (structured CloudEvents JSON values)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1_048_576,
    )
    await consumer.start()
    events: list[PublishedEvent] = []
    loop = asyncio.get_running_loop()
    idle_since = loop.time()
    try:
        while loop.time() - idle_since < idle_s:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            if any(batches.values()):
                idle_since = loop.time()
            for batch in batches.values():
                for record in batch:
                    event = orjson.loads(record.value)
                    [change] = event["data"]["changed"].values()
                    events.append(
                        PublishedEvent(
                            session_id=event["subject"],
                            type=event["type"],
                            time_ms=int(parse_timestamp(event["time"]).timestamp() * 1000),
                            new=change["new"],
                            appended_ms=record.timestamp,
                        )
                    )
    finally:
        await consumer.stop()
    return events


@dataclass(slots=True)
class Latencies:
    """Visible → Kafka seconds of the transitions that became visible in the window."""

    all_s: list[float] = field(default_factory=list)
    by_lateness_s: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unmatched: int = 0
    unmatched_late: int = 0

    def summary(self) -> dict[str, object]:
        values = sorted(self.all_s)
        buckets = {}
        for name, seconds in self.by_lateness_s.items():
            ordered = sorted(seconds)
            buckets[name] = {
                "transitions": len(ordered),
                "p50_s": percentile(ordered, 0.50),
                "p99_s": percentile(ordered, 0.99),
                "max_s": ordered[-1] if ordered else None,
            }
        return {
            "transitions": len(values),
            "p50_s": percentile(values, 0.50),
            "p99_s": percentile(values, 0.99),
            "max_s": values[-1] if values else None,
            "unmatched": self.unmatched,
            "unmatched_late": self.unmatched_late,
            "late_by_lateness": dict(sorted(buckets.items())),
        }


def _bucket(lateness_s: float) -> str | None:
    for low, high in LATENESS_BUCKETS_S:
        if low <= lateness_s < high:
            return f"{low:g}-{high:g} s"
    return None


def visible_to_kafka(
    transitions: Iterable[Transition], events: list[PublishedEvent], *, from_ms: int, until_ms: int
) -> Latencies:
    """Latencies of the transitions visible in ``[from_ms, until_ms)``."""
    moments: dict[tuple[str, str, int], int] = {}
    toggles: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for event in events:
        if event.type in (TYPE_OF_KIND[kind] for kind in TOGGLES):
            toggles[(event.session_id, event.type, str(event.new))].append(event.appended_ms)
        else:
            key = (event.session_id, event.type, event.time_ms)
            moments[key] = min(moments.get(key, event.appended_ms), event.appended_ms)
    for appended in toggles.values():
        appended.sort()
    result = Latencies()
    for transition in transitions:
        if not from_ms <= transition.visible_at_ms < until_ms:
            continue
        kind_type = TYPE_OF_KIND[transition.kind]
        late = transition.visible_at_ms - transition.updated_at_ms >= LATE_FROM_MS
        if transition.kind in TOGGLES:
            new = transition.new
            text = ("True" if new else "False") if isinstance(new, bool) else str(new)
            appended = toggles.get((transition.session_id, kind_type, text), [])
            index = bisect.bisect_left(appended, transition.visible_at_ms)
            found = appended[index] if index < len(appended) else None
        else:
            found = moments.get((transition.session_id, kind_type, transition.at_ms))
        if found is None:
            result.unmatched += 1
            result.unmatched_late += late
            continue
        seconds = max(0.0, (found - transition.visible_at_ms) / 1000)
        result.all_s.append(seconds)
        bucket = _bucket((transition.visible_at_ms - transition.updated_at_ms) / 1000)
        if late and bucket is not None:
            result.by_lateness_s[bucket].append(seconds)
    return result


async def measure(
    bootstrap: str, topic: str, ground_truth: Path, *, from_ms: int, until_ms: int
) -> dict[str, object]:
    events = await read_events(bootstrap, topic)
    return visible_to_kafka(
        read_jsonl(ground_truth), events, from_ms=from_ms, until_ms=until_ms
    ).summary()
