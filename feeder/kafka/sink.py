"""The Kafka sink: an idempotent aiokafka producer (acks=all) with a deadline on every page."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from feeder.core.records import OutgoingRecord
from feeder.kafka.admin import prepare_topics
from feeder.kafka.batches import send_in_batches
from feeder.kafka.connection import KafkaConnection, kafka_connection
from feeder.kafka.producers import close_producer, not_written, start_producer
from feeder.settings import KafkaSettings


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
            raise not_written(
                self._settings, exc, f"acknowledge {len(records)} records"
            ) from exc

    async def _discard_producer(self, producer: AIOKafkaProducer | None) -> None:
        """Stop ``producer`` and forget it, unless a concurrent publish already did."""
        if producer is not self._producer or producer is None:
            return
        self._producer = None
        await close_producer(
            producer, timeout_s=self._settings.send_timeout_s, what="a Kafka producer"
        )

    async def aclose(self) -> None:
        await self._discard_producer(self._producer)
        await self._resources.aclose()
