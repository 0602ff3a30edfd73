"""Visible → Kafka for every transition: the simulator's ground truth against the events topic.

Each transition the simulator made (its JSONL ground truth) has the moment it became visible
through the API. Its event is found on the events topic — a moment by its session, type and own
time; a fraud or status change by its session, type and new value, the first such event
appended after it became visible — and its latency is the broker's append time (the topics use
``LogAppendTime``) minus that moment. A transition with no event was either replaced before any
poll could see it or lost: both are counted, not hidden.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from feeder_devkit.simulator.ground_truth import EVENT_TYPE_OF_KIND, Transition, read_jsonl
from kafka_io import percentile

from feeder.core.timestamps import parse_timestamp

TOGGLES = frozenset({"suspected_fraud_changed", "status_changed"})
LATENESS_BUCKETS_S = ((0.5, 5.0), (5.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 300.0))
LATE_FROM_MS = 500  # visible this much after its updatedAt: a late commit
LASTING_S = 2.0  # an unmatched transition that held this long before the next of its kind


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    session_id: str
    type: str
    time_ms: int
    new: object
    appended_ms: int


async def read_events(bootstrap: str, topic: str) -> list[PublishedEvent]:
    """Every event on ``topic`` (structured CloudEvents JSON values), read up to the end offsets
    it had when reading began (not until reads come back empty: a slow first fetch must not
    cut the read short)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1_048_576,
        isolation_level="read_committed",  # what consumers of an exactly-once feed see
    )
    partitions = await _partitions(bootstrap, topic)
    await consumer.start()
    events: list[PublishedEvent] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=10_000)
            for batch in batches.values():
                events.extend(_published(record) for record in batch)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return events


async def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(TopicPartition(topic, int(p["partition"])) for p in described["partitions"])


def _published(record: ConsumerRecord) -> PublishedEvent:  # type: ignore[type-arg]
    event = orjson.loads(record.value)
    [change] = event["data"]["changed"].values()
    return PublishedEvent(
        session_id=event["subject"],
        type=event["type"],
        time_ms=int(parse_timestamp(event["time"]).timestamp() * 1000),
        new=change["new"],
        appended_ms=record.timestamp,
    )


@dataclass(slots=True)
class Latencies:
    """Visible → Kafka seconds of the transitions that became visible in the window."""

    all_s: list[float] = field(default_factory=list)
    on_time_s: list[float] = field(default_factory=list)
    by_lateness_s: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unmatched: int = 0
    unmatched_late: int = 0
    unmatched_by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unmatched_lasting: int = 0  # held at least ``LASTING_S`` before the next of its kind

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
        on_time = sorted(self.on_time_s)
        return {
            "transitions": len(values),
            "p50_s": percentile(values, 0.50),
            "p99_s": percentile(values, 0.99),
            "max_s": values[-1] if values else None,
            "on_time": {
                "transitions": len(on_time),
                "p50_s": percentile(on_time, 0.50),
                "p99_s": percentile(on_time, 0.99),
                "max_s": on_time[-1] if on_time else None,
            },
            "unmatched": self.unmatched,
            "unmatched_late": self.unmatched_late,
            "unmatched_by_kind": dict(self.unmatched_by_kind),
            "unmatched_lasting": self.unmatched_lasting,
            "late_by_lateness": dict(sorted(buckets.items())),
        }


def _bucket(lateness_s: float) -> str | None:
    for low, high in LATENESS_BUCKETS_S:
        if low <= lateness_s < high:
            return f"{low:g}-{high:g} s"
    return None


def _appended(
    events: list[PublishedEvent],
) -> tuple[dict[tuple[str, str, int], int], dict[tuple[str, str, str], list[int]]]:
    """Append times of moments by (session, type, own time), of toggles by (session, type,
    new value), sorted."""
    moments: dict[tuple[str, str, int], int] = {}
    toggles: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    toggle_types = {EVENT_TYPE_OF_KIND[kind] for kind in TOGGLES}
    for event in events:
        if event.type in toggle_types:
            toggles[(event.session_id, event.type, str(event.new))].append(event.appended_ms)
        else:
            key = (event.session_id, event.type, event.time_ms)
            moments[key] = min(moments.get(key, event.appended_ms), event.appended_ms)
    for appended in toggles.values():
        appended.sort()
    return moments, toggles


def _replaced_at(ordered: list[Transition]) -> dict[int, int]:
    """seq -> when the next transition of the same kind on the same session became visible."""
    following: dict[int, int] = {}
    last_of: dict[tuple[str, str], Transition] = {}
    for transition in ordered:
        previous = last_of.get((transition.session_id, transition.kind))
        if previous is not None:
            following[previous.seq] = transition.visible_at_ms
        last_of[(transition.session_id, transition.kind)] = transition
    return following


def _toggle_text(value: object) -> str:
    return ("True" if value else "False") if isinstance(value, bool) else str(value)


def visible_to_kafka(
    transitions: Iterable[Transition], events: list[PublishedEvent], *, from_ms: int, until_ms: int
) -> Latencies:
    """Latencies of the transitions visible in ``[from_ms, until_ms)``."""
    moments, toggles = _appended(events)
    ordered = sorted(transitions, key=lambda t: t.seq)
    replaced_at = _replaced_at(ordered)
    result = Latencies()
    for transition in ordered:
        if not from_ms <= transition.visible_at_ms < until_ms:
            continue
        kind_type = EVENT_TYPE_OF_KIND[transition.kind]
        late = transition.visible_at_ms - transition.updated_at_ms >= LATE_FROM_MS
        if transition.kind in TOGGLES:
            key = (transition.session_id, kind_type, _toggle_text(transition.new))
            appended = toggles.get(key, [])
            index = bisect.bisect_left(appended, transition.visible_at_ms)
            found = appended[index] if index < len(appended) else None
        else:
            found = moments.get((transition.session_id, kind_type, transition.at_ms))
        if found is None:
            result.unmatched += 1
            result.unmatched_late += late
            result.unmatched_by_kind[transition.kind] += 1
            until = replaced_at.get(transition.seq)
            if until is None or until - transition.visible_at_ms >= LASTING_S * 1000:
                result.unmatched_lasting += 1
            continue
        seconds = max(0.0, (found - transition.visible_at_ms) / 1000)
        result.all_s.append(seconds)
        if not late:
            result.on_time_s.append(seconds)
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
