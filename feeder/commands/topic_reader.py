"""Reading feeder's topics from the commands (``tail``, ``verify``): a started consumer with every
partition of the topics assigned, through the same secured connection the sink uses."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from feeder.errors import ConfigError
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
