"""How a page reaches Kafka together with its checkpoint: the delivery guarantee.

- ``AtLeastOnceDelivery``: publish the page, and once Kafka acknowledged all of it, commit the
  checkpoint (shielded from cancellation). A crash in between re-sends the page with the same
  event ids.
- ``ExactlyOnceDelivery``: the page's records and its checkpoint records (states and position,
  kept in Kafka by ``KafkaCheckpointStore``) are one Kafka transaction. A crash before its
  commit leaves nothing a ``read_committed`` consumer sees; after it, nothing is sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from feeder.checkpoint.kafka import KafkaCheckpointStore
from feeder.core.records import OutgoingRecord
from feeder.core.state import FeedPosition, SessionState
from feeder.kafka.transactions import TransactionalSink
from feeder.typing import CheckpointStore, Clock, RecordSink


@dataclass(frozen=True, slots=True)
class Delivered:
    """When the page's records became readable by consumers, and how long the checkpoint
    write after that took."""

    acked_at: datetime
    commit_s: float


class AtLeastOnceDelivery:
    def __init__(self, sink: RecordSink, store: CheckpointStore, clock: Clock) -> None:
        self._sink = sink
        self._store = store
        self._clock = clock

    async def deliver(
        self,
        records: Sequence[OutgoingRecord],
        states: Iterable[SessionState],
        position: FeedPosition,
    ) -> Delivered:
        await self._sink.publish(records)
        acked_at = self._clock()
        # The sink has acknowledged; finishing the commit must survive cancellation.
        await asyncio.shield(self._store.commit(states, position))
        return Delivered(acked_at, (self._clock() - acked_at).total_seconds())


class ExactlyOnceDelivery:
    def __init__(self, sink: TransactionalSink, store: KafkaCheckpointStore, clock: Clock) -> None:
        self._sink = sink
        self._store = store
        self._clock = clock

    async def deliver(
        self,
        records: Sequence[OutgoingRecord],
        states: Iterable[SessionState],
        position: FeedPosition,
    ) -> Delivered:
        # Shielded whole: a transaction cut short by cancellation would leave the producer
        # mid-transaction, and a committed one must reach the store's cache.
        return await asyncio.shield(self._transact(records, list(states), position))

    async def _transact(
        self,
        records: Sequence[OutgoingRecord],
        states: list[SessionState],
        position: FeedPosition,
    ) -> Delivered:
        checkpoint = self._store.checkpoint_records(states, position)
        written = await self._sink.publish_at([*records, *checkpoint])
        committed_at = self._clock()
        await self._store.remember(states, position, written=written)
        return Delivered(committed_at, (self._clock() - committed_at).total_seconds())
