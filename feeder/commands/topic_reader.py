"""Reading feeder's topics (``tail``, ``verify``, and ``run``'s look for a lost checkpoint): a
started consumer with every partition of the topics assigned, through the same secured
connection the sink uses."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from feeder.errors import ConfigError, SinkUnavailableError
from feeder.settings import KafkaSettings
from feeder.sink.connection import KafkaConnection, start_within_deadline
from feeder.sink.kafka import with_admin


async def assigned_consumer(
    connection: KafkaConnection, topics: list[str]
) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    """A started ``read_committed`` consumer (no group, no commits) with every partition of
    ``topics`` assigned; the caller seeks and stops it. Errors name the settings to fix."""
    consumer = AIOKafkaConsumer(
        **connection.options,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        await start_within_deadline(connection, consumer.start(), "connecting the consumer")
        partitions = await with_admin(
            connection, lambda admin, kafka: topic_partitions(admin, topics, kafka)
        )
        consumer.assign(partitions)
    except BaseException:
        await consumer.stop()
        raise
    return consumer, partitions


async def topic_partitions(
    admin: AIOKafkaAdminClient, topics: list[str], kafka: KafkaSettings
) -> list[TopicPartition]:
    """Every partition of ``topics``; ``ConfigError`` naming the settings if one is missing."""
    described = await admin.describe_topics(topics)
    missing = [str(topic["topic"]) for topic in described if topic["error_code"] != 0]
    if missing:
        raise ConfigError(
            f"topic {', '.join(missing)} does not exist at {kafka.bootstrap_servers}; check "
            "FEEDER_KAFKA__TOPICS__* and FEEDER_KAFKA__BOOTSTRAP_SERVERS"
        )
    return [
        TopicPartition(str(topic["topic"]), int(partition["partition"]))
        for topic in described
        for partition in sorted(topic["partitions"], key=lambda p: int(p["partition"]))
    ]


async def latest_value_of_key(
    connection: KafkaConnection, topic: str, key: bytes, *, tail: int = 50
) -> bytes | None:
    """The value of the newest record with ``key`` among the last ``tail`` records of each
    partition of ``topic`` (``None``: none there, or no such topic), within the connection's
    deadline."""
    try:
        consumer, partitions = await assigned_consumer(connection, [topic])
    except ConfigError:
        return None  # the topic does not exist: nothing was ever published to it
    try:
        async with asyncio.timeout(connection.settings.send_timeout_s):
            ends = await consumer.end_offsets(partitions)
            newest: tuple[int, bytes | None] | None = None
            for partition in partitions:
                end = ends[partition]
                if end == 0:
                    continue
                consumer.seek(partition, max(0, end - tail))
                while await consumer.position(partition) < end:
                    batch = await consumer.getmany(partition, timeout_ms=500)
                    for record in batch.get(partition, []):
                        if record.key == key and (newest is None or record.timestamp >= newest[0]):
                            newest = (record.timestamp, record.value)
            return None if newest is None else newest[1]
    except (TimeoutError, KafkaError) as exc:
        raise SinkUnavailableError(
            f"could not read {topic} at {connection.settings.bootstrap_servers} within "
            f"{connection.settings.send_timeout_s} s ({exc!r}); check "
            "FEEDER_KAFKA__BOOTSTRAP_SERVERS"
        ) from exc
    finally:
        await consumer.stop()
