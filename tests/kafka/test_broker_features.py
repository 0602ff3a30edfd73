"""Proof that aiokafka works against the Apache Kafka 4.x broker we run, feature by feature.

aiokafka's own CI stops at old brokers, so these tests are what shows each feature we rely on
works against the broker version in ``feeder_devkit.localkafka``.
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]


async def _create_topic(bootstrap: str, topic: str, **configs: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=configs or None)])
    finally:
        await admin.close()


async def _read_all(
    bootstrap: str, topic: str, *, isolation_level: str = "read_uncommitted", expected: int
) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level=isolation_level,
    )
    await consumer.start()
    seen: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
    try:
        for _ in range(20):
            batches = await consumer.getmany(timeout_ms=500)
            seen.extend(
                (record.key, record.value, list(record.headers))
                for records in batches.values()
                for record in records
            )
            if len(seen) >= expected:
                # one more poll proves nothing further is readable
                extra = await consumer.getmany(timeout_ms=500)
                seen.extend(
                    (record.key, record.value, list(record.headers))
                    for records in extra.values()
                    for record in records
                )
                break
    finally:
        await consumer.stop()
    return seen


async def test_round_trip_keeps_key_value_and_headers(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await _create_topic(kafka_bootstrap, topic_name)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic_name, b'{"a":1}', key=b"session-1", headers=[("ce_type", b"session.entered")]
        )
    finally:
        await producer.stop()
    assert await _read_all(kafka_bootstrap, topic_name, expected=1) == [
        (b"session-1", b'{"a":1}', [("ce_type", b"session.entered")])
    ]


@pytest.mark.parametrize("compression", ["zstd", "lz4", "gzip"])
async def test_idempotent_producer_with_acks_all_and_compression(
    kafka_bootstrap: str, topic_name: str, compression: str
) -> None:
    await _create_topic(kafka_bootstrap, topic_name)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        compression_type=compression,
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic_name, f"value-{i}".encode(), key=b"k") for i in range(50)
        ]
        offsets = [(await future).offset for future in futures]
    finally:
        await producer.stop()
    assert offsets == list(range(50))
    values = [value for _, value, _ in await _read_all(kafka_bootstrap, topic_name, expected=50)]
    assert values == [f"value-{i}".encode() for i in range(50)]


async def test_transaction_commit_is_visible_and_abort_is_not(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await _create_topic(kafka_bootstrap, topic_name)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"tx-{uuid.uuid4().hex}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic_name, b"committed", key=b"k")
        await producer.begin_transaction()
        await producer.send(topic_name, b"aborted", key=b"k")
        await producer.abort_transaction()
    finally:
        await producer.stop()

    committed = await _read_all(
        kafka_bootstrap, topic_name, isolation_level="read_committed", expected=1
    )
    everything = await _read_all(
        kafka_bootstrap, topic_name, isolation_level="read_uncommitted", expected=2
    )
    assert [value for _, value, _ in committed] == [b"committed"]
    assert [value for _, value, _ in everything] == [b"committed", b"aborted"]


async def test_admin_creates_a_compacted_topic(kafka_bootstrap: str, topic_name: str) -> None:
    await _create_topic(kafka_bootstrap, topic_name, **{"cleanup.policy": "compact"})
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic_name)]
        )
    finally:
        await admin.close()
    [(_, _, _, _, entries)] = response.resources
    configs = {entry[0]: entry[1] for entry in entries}
    assert configs["cleanup.policy"] == "compact"
