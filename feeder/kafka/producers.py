"""aiokafka producers: one way to start them, one way to close them.

Every producer feeder starts is idempotent (``acks=all``) with the settings' batching, started
within ``send_timeout_s`` (a failure names the setting to fix). :func:`close_producer` is the one
close: idempotent, bounded, and it works around aiokafka #1101 (with idempotence, ``stop()`` can
hang forever flushing to brokers that are gone, and then leaves the connections open), so every
sink that drops a producer drops it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from feeder.errors import SinkUnavailableError
from feeder.kafka.connection import KafkaConnection
from feeder.kafka.diagnosis import start_within_deadline
from feeder.settings import KafkaSettings

logger = logging.getLogger("feeder.sink")

CLOSE_TIMEOUT_S = 5.0
"""How long closing the connections of a producer that would not stop may take."""


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
        await asyncio.shield(close_producer(producer, timeout_s=CLOSE_TIMEOUT_S, what=None))
        raise
    return producer


async def close_producer(producer: AIOKafkaProducer, *, timeout_s: float, what: str | None) -> None:
    """Stop ``producer`` within ``timeout_s``; if it would not (aiokafka #1101), close its
    connections, or they leak until the producer is collected. Never raises a Kafka error;
    stopping a stopped producer does nothing.

    ``what`` names the producer in the warning logged when it had to be abandoned (``None``: a
    producer that never started, only logged at debug level).
    """
    try:
        async with asyncio.timeout(timeout_s):
            await producer.stop()
    except (TimeoutError, KafkaError):
        if what is None:
            logger.debug("producer did not stop cleanly after a failed start")
        else:
            logger.warning("abandoned %s that did not stop in time", what)
        with contextlib.suppress(TimeoutError, KafkaError, OSError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await producer.client.close()


def not_written(settings: KafkaSettings, exc: BaseException, missed: str) -> SinkUnavailableError:
    """The error a send or a transaction that missed its deadline (``TimeoutError``) or failed
    (a Kafka error) becomes; ``missed`` says what Kafka did not do (``acknowledge 3 records``)."""
    what = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc!r}"
    return SinkUnavailableError(
        f"Kafka did not {missed} within {settings.send_timeout_s} s ({what}); check the brokers "
        f"at {settings.bootstrap_servers} (FEEDER_KAFKA__BOOTSTRAP_SERVERS)"
    )
