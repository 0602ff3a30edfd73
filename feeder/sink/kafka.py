"""The Kafka sink: an idempotent aiokafka producer (acks=all) with a deadline on every page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from feeder.core.records import OutgoingRecord
from feeder.errors import SinkUnavailableError
from feeder.settings import KafkaSettings
from feeder.sink.connection import KafkaConnection, kafka_connection, start_within_deadline
from feeder.sink.partition_batches import send_in_batches
from feeder.sink.topics import check_cleanup_policies, ensure_topics, wanted_topics

logger = logging.getLogger("feeder.sink")


class KafkaSink:
    """Open with ``await KafkaSink.open(settings)``; creates missing topics if configured.

    Every page of sends and every start/stop runs under ``send_timeout_s``. After a timeout or a
    Kafka error the producer is replaced: aiokafka's idempotent producer can hang forever while
    brokers are down (aiokafka #1101) and never fails a send whose start failed (aiokafka #759),
    so we never reuse one that missed its deadline. Nothing is lost: the page was not
    checkpointed and is re-sent, with the same event ids, by the next attempt.

    The sweeper and the pruner (tombstones) publish through one sink concurrently: they share
    the producer, and only the first to need a new one starts it.
    """

    def __init__(
        self,
        connection: KafkaConnection,
        producer: AIOKafkaProducer,
        resources: contextlib.AsyncExitStack,
    ) -> None:
        self._connection = connection
        self._settings = connection.settings
        self._producer: AIOKafkaProducer | None = producer
        self._starting = asyncio.Lock()
        self._resources = resources

    @classmethod
    async def open(cls, settings: KafkaSettings) -> KafkaSink:
        """Connect, create missing topics (if configured), check the existing topics' cleanup
        policies and start the producer; errors name the setting to fix."""
        resources = contextlib.AsyncExitStack()
        try:
            connection = await resources.enter_async_context(kafka_connection(settings))
            await prepare_topics(connection)
            producer = await start_producer(connection)
        except BaseException:
            await resources.aclose()
            raise
        return cls(connection, producer, resources)

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if not records:
            return
        async with self._starting:
            producer = self._producer or await start_producer(self._connection)
            self._producer = producer
        try:
            async with asyncio.timeout(self._settings.send_timeout_s):
                await asyncio.gather(*await send_in_batches(producer, records))
        except (TimeoutError, KafkaError) as exc:
            await self._discard_producer(producer)
            what = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc!r}"
            raise SinkUnavailableError(
                f"Kafka did not acknowledge {len(records)} records within "
                f"{self._settings.send_timeout_s} s ({what}); check the brokers at "
                f"{self._settings.bootstrap_servers} (FEEDER_KAFKA__BOOTSTRAP_SERVERS)"
            ) from exc

    async def _discard_producer(self, producer: AIOKafkaProducer | None) -> None:
        """Stop ``producer`` and forget it, unless a concurrent publish already did."""
        if producer is not self._producer or producer is None:
            return
        self._producer = None
        try:
            async with asyncio.timeout(self._settings.send_timeout_s):
                await producer.stop()
        except (TimeoutError, KafkaError):
            logger.warning("abandoned a Kafka producer that did not stop in time")
            # stop() gave up flushing to brokers that are gone and left the connections open;
            # close them, or they leak until the producer is collected
            with contextlib.suppress(TimeoutError, KafkaError, OSError):
                async with asyncio.timeout(5):
                    await producer.client.close()

    async def aclose(self) -> None:
        await self._discard_producer(self._producer)
        await self._resources.aclose()


async def check_kafka(settings: KafkaSettings) -> list[str]:
    """Reach the cluster once; return the names of feeder's topics that do not exist yet.

    Raises ``ConfigError`` when an existing topic has the wrong cleanup policy, and what
    :func:`~feeder.sink.connection.start_within_deadline` raises when Kafka cannot be reached.
    """

    async def missing_topics(admin: AIOKafkaAdminClient, settings: KafkaSettings) -> list[str]:
        existing = set(await admin.list_topics())
        await check_cleanup_policies(admin, settings)
        return [topic.name for topic in wanted_topics(settings) if topic.name not in existing]

    async with kafka_connection(settings) as connection:
        return await with_admin(connection, missing_topics)


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


async def prepare_topics(connection: KafkaConnection) -> None:
    """Create the missing topics (if configured) and check the existing topics' cleanup
    policies; errors name the setting to fix."""

    async def prepare(admin: AIOKafkaAdminClient, settings: KafkaSettings) -> None:
        if settings.create_topics:
            await ensure_topics(admin, settings)
        await check_cleanup_policies(admin, settings)

    await with_admin(connection, prepare)


async def start_producer(
    connection: KafkaConnection, *, what: str = "connecting the producer", **options: object
) -> AIOKafkaProducer:
    """A started idempotent producer (``acks=all``) with the settings' batching, and ``options``
    (a ``transactional_id``); within ``send_timeout_s``, errors naming the setting to fix."""
    settings = connection.settings
    producer = AIOKafkaProducer(
        **connection.options,
        **options,
        acks="all",
        enable_idempotence=True,
        compression_type=None if settings.compression == "none" else settings.compression,
        linger_ms=settings.linger_ms,
        max_batch_size=settings.max_batch_bytes,
    )
    try:
        await start_within_deadline(connection, producer.start(), what)
    except BaseException:
        await asyncio.shield(_stop_quietly(producer))
        raise
    return producer


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    try:
        async with asyncio.timeout(5):
            await producer.stop()
    except (TimeoutError, KafkaError):
        logger.debug("producer did not stop cleanly after a failed start")
