"""The Kafka sink: an idempotent aiokafka producer (acks=all) with a deadline on every page."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context

from feeder.core.records import OutgoingRecord
from feeder.errors import ConfigError, SinkUnavailableError
from feeder.settings import KafkaSettings
from feeder.sink.partition_batches import send_in_batches
from feeder.sink.topics import ensure_topics, wanted_topics

logger = logging.getLogger("feeder.sink")


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Connection options shared by the producer and the admin client."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": int(settings.send_timeout_s * 1000),
    }
    if settings.security_protocol in {"SSL", "SASL_SSL"}:
        options["ssl_context"] = create_ssl_context(
            cafile=None if settings.ssl_cafile is None else str(settings.ssl_cafile)
        )
    if settings.security_protocol.startswith("SASL"):
        if settings.sasl_mechanism is None or settings.sasl_username is None:
            raise ConfigError(
                "FEEDER_KAFKA__SECURITY_PROTOCOL=SASL_* needs FEEDER_KAFKA__SASL_MECHANISM, "
                "FEEDER_KAFKA__SASL_USERNAME and FEEDER_KAFKA__SASL_PASSWORD"
            )
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = (
            None if settings.sasl_password is None else settings.sasl_password.get_secret_value()
        )
    return options


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

    def __init__(self, settings: KafkaSettings, producer: AIOKafkaProducer) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = producer
        self._starting = asyncio.Lock()

    @classmethod
    async def open(cls, settings: KafkaSettings) -> KafkaSink:
        if settings.create_topics:
            await _with_deadline(settings, _create_topics(settings), "creating topics")
        return cls(settings, await _start_producer(settings))

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if not records:
            return
        async with self._starting:
            producer = self._producer or await _start_producer(self._settings)
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

    async def aclose(self) -> None:
        await self._discard_producer(self._producer)


async def check_kafka(settings: KafkaSettings) -> list[str]:
    """Reach the cluster once; return the names of feeder's topics that do not exist yet."""

    async def missing_topics() -> list[str]:
        admin = AIOKafkaAdminClient(**client_options(settings))
        await admin.start()
        try:
            existing = set(await admin.list_topics())
        finally:
            await admin.close()
        return [topic.name for topic in wanted_topics(settings) if topic.name not in existing]

    try:
        async with asyncio.timeout(settings.send_timeout_s):
            return await missing_topics()
    except (TimeoutError, KafkaError, OSError) as exc:
        raise SinkUnavailableError(
            f"cannot reach Kafka at {settings.bootstrap_servers} within "
            f"{settings.send_timeout_s} s: {exc!r}; check FEEDER_KAFKA__BOOTSTRAP_SERVERS"
        ) from exc


async def _create_topics(settings: KafkaSettings) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await ensure_topics(admin, settings)
    finally:
        await admin.close()


async def _start_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        compression_type=None if settings.compression == "none" else settings.compression,
        linger_ms=settings.linger_ms,
        max_batch_size=settings.max_batch_bytes,
    )
    try:
        await _with_deadline(settings, producer.start(), "connecting the producer")
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


async def _with_deadline(settings: KafkaSettings, work: Awaitable[object], what: str) -> None:
    try:
        async with asyncio.timeout(settings.send_timeout_s):
            await work
    except (TimeoutError, KafkaError, OSError) as exc:
        raise SinkUnavailableError(
            f"{what} failed within {settings.send_timeout_s} s: {exc!r}; check the brokers at "
            f"{settings.bootstrap_servers} (FEEDER_KAFKA__BOOTSTRAP_SERVERS)"
        ) from exc
