"""The admin requests feeder makes: reaching the cluster, preparing and checking its topics
(the feed's, the checkpoint topic, the replicas' control topic), and listing partitions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from feeder.errors import ConfigError, SinkUnavailableError
from feeder.kafka.connection import KafkaConnection, kafka_connection
from feeder.kafka.diagnosis import start_within_deadline
from feeder.kafka.topics import (
    check_cleanup_policies,
    checkpoint_topic,
    ensure_topics,
    wanted_topics,
)
from feeder.settings import KafkaSettings

T = TypeVar("T")


async def with_admin(
    connection: KafkaConnection, work: Callable[[AIOKafkaAdminClient, KafkaSettings], Awaitable[T]]
) -> T:
    """Run ``work`` with a started admin client, within ``send_timeout_s``; close it after."""
    settings = connection.settings
    admin = AIOKafkaAdminClient(**connection.options)
    try:
        await start_within_deadline(connection, admin.start(), "connecting the admin client")
        try:
            async with asyncio.timeout(settings.send_timeout_s):
                return await work(admin, settings)
        except (TimeoutError, KafkaError, OSError) as exc:
            raise SinkUnavailableError(
                f"Kafka at {settings.bootstrap_servers} did not answer an admin request within "
                f"{settings.send_timeout_s} s ({exc!r}); check FEEDER_KAFKA__BOOTSTRAP_SERVERS"
            ) from exc
    finally:
        await admin.close()


async def check_kafka(settings: KafkaSettings) -> list[str]:
    """Reach the cluster once; return the names of feeder's topics that do not exist yet.

    Raises ``ConfigError`` when an existing topic has the wrong cleanup policy, and what
    :func:`~feeder.kafka.diagnosis.start_within_deadline` raises when Kafka cannot be reached.
    """

    async def missing_topics(admin: AIOKafkaAdminClient, settings: KafkaSettings) -> list[str]:
        existing = set(await admin.list_topics())
        await check_cleanup_policies(admin, settings)
        return [topic.name for topic in wanted_topics(settings) if topic.name not in existing]

    async with kafka_connection(settings) as connection:
        return await with_admin(connection, missing_topics)


async def prepare_topics(connection: KafkaConnection) -> None:
    """Create the missing topics (if configured) and check the existing topics' cleanup
    policies; errors name the setting to fix."""

    async def prepare(admin: AIOKafkaAdminClient, settings: KafkaSettings) -> None:
        if settings.create_topics:
            await ensure_topics(admin, settings)
        await check_cleanup_policies(admin, settings)

    await with_admin(connection, prepare)


async def prepare_checkpoint_topic(connection: KafkaConnection) -> None:
    """Create the checkpoint topic if missing (and ``create_topics``); check it is compacted
    and has one partition."""
    await with_admin(connection, _prepare_checkpoint_topic)


async def _prepare_checkpoint_topic(admin: AIOKafkaAdminClient, settings: KafkaSettings) -> None:
    name = settings.topics.checkpoint
    # list_topics, not describe_topics: a metadata request for a missing topic may have the
    # broker auto-create it, uncompacted
    if name not in await admin.list_topics():
        if not settings.create_topics:
            raise ConfigError(
                f"the checkpoint topic {name} does not exist at {settings.bootstrap_servers}; "
                "create it (compacted, one partition) or set FEEDER_KAFKA__CREATE_TOPICS=true "
                "(FEEDER_KAFKA__TOPICS__CHECKPOINT)"
            )
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([checkpoint_topic(settings)])
        return
    described = await admin.describe_topics([name])
    partitions = len(described[0]["partitions"])
    if partitions != 1:
        raise ConfigError(
            f"the checkpoint topic {name} has {partitions} partitions; it must have exactly one "
            "(FEEDER_KAFKA__TOPICS__CHECKPOINT)"
        )
    await check_cleanup_policies(admin, settings)


async def prepare_control_topic(connection: KafkaConnection, topic: str, partitions: int) -> None:
    """Create the replicas' control topic with ``partitions`` partitions (one per feed), or
    check that the one there has that many."""

    async def prepare(admin: AIOKafkaAdminClient, kafka: KafkaSettings) -> None:
        # list_topics, not describe_topics: a metadata request for a missing topic may have the
        # broker auto-create it, with its default single partition
        if topic not in await admin.list_topics():
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(topic, partitions, kafka.replication_factor)])
            return
        [described] = await admin.describe_topics([topic])
        found = len(described["partitions"])
        if found != partitions:
            raise ConfigError(
                f"the control topic {topic} has {found} partitions but this config has "
                f"{partitions} feeds; every replica must have the same feeds, and the topic one "
                "partition per feed (FEEDER_REPLICAS__CONTROL_TOPIC, FEEDER_FEEDS)"
            )

    await with_admin(connection, prepare)


async def topic_partitions(connection: KafkaConnection, topics: list[str]) -> list[TopicPartition]:
    """Every partition of ``topics``; ``ConfigError`` naming the settings if one is missing."""

    async def describe(admin: AIOKafkaAdminClient, kafka: KafkaSettings) -> list[TopicPartition]:
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

    return await with_admin(connection, describe)
