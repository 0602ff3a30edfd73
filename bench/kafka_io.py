"""Kafka for the benchmarks: per-run topics stamped with the broker's append time, read-back.

Topics are created here, before the feeder starts, with ``message.timestamp.type=LogAppendTime``:
then a record's timestamp is when the broker appended it, and freshness is that minus the
CloudEvent's ``time`` (the change's own timestamp), measured without touching the feeder.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from feeder.core.records import TopicNames
from feeder.core.timestamps import parse_timestamp


def bench_topics(scenario: str) -> TopicNames:
    prefix = f"bench.{scenario}.{uuid.uuid4().hex[:6]}"
    return TopicNames(f"{prefix}.events", f"{prefix}.fraud", f"{prefix}.state", f"{prefix}.dlq")


def topic_env(topics: TopicNames) -> dict[str, str]:
    """The feeder's settings naming ``topics`` (already created, so it creates none), and a
    feed of their own: a feed that finds its name's heartbeats from an earlier run on the same
    broker, with an empty checkpoint, refuses to start (README, Guarantees)."""
    return {
        "FEEDER_FEED_NAME": topics.events.removesuffix(".events"),
        "FEEDER_KAFKA__TOPICS__EVENTS": topics.events,
        "FEEDER_KAFKA__TOPICS__FRAUD": topics.fraud,
        "FEEDER_KAFKA__TOPICS__STATE": topics.state,
        "FEEDER_KAFKA__TOPICS__DEAD_LETTER": topics.dead_letter,
        "FEEDER_KAFKA__CREATE_TOPICS": "false",
    }


async def create_topics(bootstrap: str, topics: TopicNames, partitions: int = 6) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        append_time = {"message.timestamp.type": "LogAppendTime"}
        await admin.create_topics(
            [
                NewTopic(topics.events, partitions, 1, topic_configs=append_time),
                NewTopic(topics.fraud, partitions, 1, topic_configs=append_time),
                NewTopic(
                    topics.state,
                    partitions,
                    1,
                    topic_configs={**append_time, "cleanup.policy": "compact"},
                ),
                NewTopic(topics.dead_letter, partitions, 1, topic_configs=append_time),
            ]
        )
    finally:
        await admin.close()


def producer(bootstrap: str) -> AIOKafkaProducer:
    """A producer configured like the feeder's sink (its defaults)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        compression_type="zstd",
        linger_ms=5,
        max_batch_size=1_048_576,
    )


def percentile(sorted_values: list[float], share: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


@dataclass(frozen=True, slots=True)
class Freshness:
    """Append time minus change time of the events read back, in seconds (sorted).

    ``newest`` keeps only events whose change is the newest of the session it was read with
    (``time`` equals the session's ``updatedAt``). The visible → Kafka latency of every
    transition is :mod:`visibility`'s; this one, from the event's own ``time``, also counts how
    late the write became visible.
    """

    seconds: list[float]
    newest: list[float]


async def read_freshness(
    bootstrap: str, topic: str, *, from_ms: int, until_ms: int, idle_s: float = 3.0
) -> Freshness:
    """Every event on ``topic`` appended in ``[from_ms, until_ms)``: append minus change time."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1_048_576,
        isolation_level="read_committed",  # what consumers of an exactly-once feed see
    )
    await consumer.start()
    seconds: list[float] = []
    newest: list[float] = []
    idle_since = asyncio.get_running_loop().time()
    try:
        while asyncio.get_running_loop().time() - idle_since < idle_s:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            if any(batches.values()):
                idle_since = asyncio.get_running_loop().time()
            for batch in batches.values():
                for record in batch:
                    if not from_ms <= record.timestamp < until_ms:
                        continue
                    event = orjson.loads(record.value)
                    changed_at = parse_timestamp(event["time"])
                    age_s = record.timestamp / 1000 - changed_at.timestamp()
                    seconds.append(age_s)
                    if parse_timestamp(event["data"]["session"]["updatedAt"]) == changed_at:
                        newest.append(age_s)
    finally:
        await consumer.stop()
    return Freshness(sorted(seconds), sorted(newest))
