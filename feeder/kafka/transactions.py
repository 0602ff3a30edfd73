"""The transactional sink: every ``publish`` is one Kafka transaction, and the feed's
``transactional.id`` fences any older instance of the same feed.

Starting the producer registers the ``transactional.id`` with the transaction coordinator
(``InitProducerId``): the coordinator aborts a transaction an older instance left open and bumps
the producer epoch, so from then on every write of the older instance fails with
``ProducerFenced``. That is the whole of "one active instance per feed": Kafka decides, nothing
here keeps a lock.

Known aiokafka hazards, each bounded here:

- A transactional request to a coordinator that went away is retried forever (aiokafka #1134,
  #905), and an idempotent send can hang while brokers are down (aiokafka #1101): every
  transaction runs under ``send_timeout_s``; on a timeout the producer is dropped, and the next
  transaction starts a new one, whose ``InitProducerId`` aborts or completes whatever the old
  one left behind.
- After ``ProducerFenced`` (or any fatal error) aiokafka's sender task is dead and the producer
  cannot be used again: it is dropped too. ``ProducerFenced`` is reported as ``FencedError``:
  another instance took over. Our own transactions cannot time out on the broker first
  (``transaction_timeout_s`` must exceed ``send_timeout_s``), so a fence always means a
  newer instance.
- A commit that timed out may have happened or not. ``generation`` counts the producers
  dropped that way; a reader of the checkpoint (``KafkaCheckpointStore``) that sees it change
  calls ``settle`` (a new producer's ``InitProducerId`` completes or aborts what the old one
  left) and then reads the topic again before trusting what it remembers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced
from aiokafka.structs import RecordMetadata

from feeder.core.records import OutgoingRecord
from feeder.errors import FencedError
from feeder.kafka.batches import send_in_batches
from feeder.kafka.connection import KafkaConnection
from feeder.kafka.producers import (
    CLOSE_TIMEOUT_S,
    close_producer,
    not_written,
    start_producer,
)


class TransactionalSink:
    """Open with ``await TransactionalSink.open(connection, transactional_id=...)``.

    ``publish`` calls are serialised: one transaction at a time, covering exactly the records of
    that call. It does not close ``connection``.
    """

    def __init__(
        self,
        connection: KafkaConnection,
        *,
        transactional_id: str,
        transaction_timeout_s: float,
    ) -> None:
        self._connection = connection
        self._settings = connection.settings
        self.transactional_id = transactional_id
        self._transaction_timeout_ms = round(transaction_timeout_s * 1000)
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._fenced: FencedError | None = None
        self.generation = 0
        """How many producers were dropped: a change means a transaction's outcome may be
        unknown to this process (see the module docstring)."""

    @classmethod
    async def open(
        cls, connection: KafkaConnection, *, transactional_id: str, transaction_timeout_s: float
    ) -> TransactionalSink:
        """Start the producer now: this fences every older instance of the feed."""
        sink = cls(
            connection,
            transactional_id=transactional_id,
            transaction_timeout_s=transaction_timeout_s,
        )
        async with sink._lock:
            await sink._ready_producer()
        return sink

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        """Write ``records`` in one transaction; return once it is committed (``publish_at``)."""
        await self.publish_at(records)

    async def publish_at(self, records: Sequence[OutgoingRecord]) -> dict[TopicPartition, int]:
        """Write ``records`` in one transaction; return once it is committed, with the offset
        of the last batch written to each partition (its first record's; every record of the
        transaction on that partition is at or before that batch's end).

        Raises ``FencedError`` (for good: every later call raises it too) when a newer
        instance of the feed took over, and ``SinkUnavailableError`` when the transaction was
        not committed within ``send_timeout_s`` (it may still have been: see ``generation``).
        """
        if not records:
            return {}
        async with self._lock:
            producer = await self._ready_producer()
            try:
                async with asyncio.timeout(self._settings.send_timeout_s):
                    await producer.begin_transaction()
                    batches = await asyncio.gather(*await send_in_batches(producer, records))
                    await producer.commit_transaction()
            except ProducerFenced as exc:
                await self._drop_producer()
                self._fenced = self._fence_error()
                raise self._fenced from exc
            except (TimeoutError, KafkaError) as exc:
                await self._drop_producer()
                raise not_written(
                    self._settings, exc, f"commit a transaction of {len(records)} records"
                ) from exc
            except BaseException:  # cancelled mid-transaction: the producer is unusable now
                await asyncio.shield(self._drop_producer())
                raise
        written: dict[TopicPartition, int] = {}
        metadata: list[RecordMetadata] = batches  # what a batch's delivery future holds
        for batch in metadata:
            where = batch.topic_partition
            written[where] = max(written.get(where, 0), batch.offset)
        return written

    def _fence_error(self) -> FencedError:
        return FencedError(
            f"another feeder instance with the same feed name took this feed over (Kafka "
            f"fenced transactional.id {self.transactional_id}, FEEDER_FEED_NAME); this one "
            "stopped publishing"
        )

    async def _ready_producer(self) -> AIOKafkaProducer:
        if self._fenced is not None:
            raise self._fenced
        if self._producer is not None:
            return self._producer
        # start() waits for InitProducerId: the moment older instances are fenced.
        producer = await start_producer(
            self._connection,
            what="registering the transactional producer",
            transactional_id=self.transactional_id,
            transaction_timeout_ms=self._transaction_timeout_ms,
        )
        self._producer = producer
        return producer

    async def settle(self) -> None:
        """Return once a producer is registered: whatever a dropped one left open is then
        committed or aborted, so ``read_committed`` readers see its final outcome."""
        async with self._lock:
            await self._ready_producer()

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            self.generation += 1
            await _close_quietly(producer)

    async def aclose(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
            if producer is not None:
                await _close_quietly(producer)


async def _close_quietly(producer: AIOKafkaProducer) -> None:
    await close_producer(producer, timeout_s=CLOSE_TIMEOUT_S, what="a transactional producer")
