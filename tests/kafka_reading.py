"""Read back what landed in Kafka, for tests."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType


@dataclass(frozen=True, slots=True)
class ReadRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    timestamp_ms: int
    partition: int


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    at_least: int = 0,
    timeout_s: float = 60.0,
    client_options: Mapping[str, Any] | None = None,
) -> list[ReadRecord]:
    """Everything in ``topic`` from the start up to the end offsets it had when the read began
    (``read_committed``: its last stable offsets), every partition read to its end, so a slow
    fetch cannot cut a read short. With ``at_least``, a read that found fewer records takes the
    end offsets again and goes on until that many arrived. Fails after ``timeout_s`` rather
    than returning short; a topic that does not exist reads as empty unless ``at_least`` waits
    for it.

    ``client_options`` (TLS, SASL) replace ``bootstrap`` when given."""
    options = client_options or {"bootstrap_servers": bootstrap}
    consumer = AIOKafkaConsumer(
        **options,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ReadRecord] = []
    try:
        async with asyncio.timeout(timeout_s):
            partitions = await _partitions(options, topic, wait=at_least > 0)
            if not partitions:
                return records
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while True:
                ends = await consumer.end_offsets(partitions)
                while not await _reached(consumer, ends):
                    batches = await consumer.getmany(*partitions, timeout_ms=300)
                    records.extend(
                        ReadRecord(
                            r.topic, r.key, r.value, dict(r.headers), r.timestamp, r.partition
                        )
                        for batch in batches.values()
                        for r in batch
                    )
                if len(records) >= at_least:
                    return records
                await asyncio.sleep(0.1)
    except TimeoutError as exc:
        raise AssertionError(
            f"reading {topic} did not reach its end offsets with {at_least} records or more "
            f"within {timeout_s} s ({len(records)} read)"
        ) from exc
    finally:
        await consumer.stop()


async def _partitions(
    options: Mapping[str, Any], topic: str, *, wait: bool
) -> list[TopicPartition]:
    """Every partition of ``topic`` (none while it does not exist, unless ``wait``)."""
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        while True:
            [described] = await admin.describe_topics([topic])
            if described["error_code"] == 0 or not wait:
                return sorted(
                    TopicPartition(topic, int(p["partition"])) for p in described["partitions"]
                )
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def _reached(consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int]) -> bool:
    return all([await consumer.position(tp) >= end for tp, end in ends.items()])


async def topic_configs(bootstrap: str, topics: list[str]) -> dict[str, dict[str, str]]:
    """Every config of each topic as the broker reports it (defaults included), by topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics]
        )
    finally:
        await admin.close()
    # resources: (error_code, error_message, resource_type, resource_name, config_entries);
    # an entry starts with (name, value, ...).
    return {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for response in responses
        for resource in response.resources
    }
