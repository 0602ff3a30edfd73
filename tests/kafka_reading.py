"""Read back what landed in Kafka, for tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
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
    idle_polls: int = 2,
    max_polls: int = 60,
    client_options: Mapping[str, Any] | None = None,
) -> list[ReadRecord]:
    """Everything in ``topic`` from the start: poll until ``at_least`` records arrived and then
    ``idle_polls`` polls brought nothing more (or ``max_polls`` were made).

    ``client_options`` (TLS, SASL) replace ``bootstrap`` when given."""
    consumer = AIOKafkaConsumer(
        topic,
        **(client_options or {"bootstrap_servers": bootstrap}),
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ReadRecord] = []
    idle = 0
    try:
        for _ in range(max_polls):
            batches = await consumer.getmany(timeout_ms=300)
            fresh = [
                ReadRecord(r.topic, r.key, r.value, dict(r.headers), r.timestamp, r.partition)
                for batch in batches.values()
                for r in batch
            ]
            records.extend(fresh)
            idle = 0 if fresh else idle + 1
            if len(records) >= at_least and idle >= idle_polls:
                break
    finally:
        await consumer.stop()
    return records


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
