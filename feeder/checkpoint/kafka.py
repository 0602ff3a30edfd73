"""The Kafka checkpoint store: the checkpoint lives in a compacted topic, so any host can run
the feed, and a page's checkpoint can share the page's Kafka transaction (exactly-once).

The topic (``kafka.topics.checkpoint``, one partition, compacted) is the truth; a local SQLite
file (``checkpoint.path``) is only a cache of it for lookups, deleted and rebuilt from the
topic, read to its end with ``read_committed``, at every start. Writes go through a
``TransactionalSink`` whose ``transactional.id`` belongs to the feed: opening that sink fenced
every older instance, so no one else writes the topic while this store is open, and a write
after a newer instance took over fails with ``FencedError``.

Two ways to write:

- ``commit`` (at-least-once): the page's events were published and acknowledged already; the
  states and position are written in a transaction of their own, then cached.
- ``checkpoint_records`` + ``remember`` (exactly-once): the caller puts the checkpoint records in
  the page's own transaction, and tells the store once that transaction committed.

When the transactional sink had to replace its producer (a transaction whose outcome this
process does not know), the store reads the topic again from where it last did before it
answers another lookup: what it remembers is then what Kafka committed, whichever way that
transaction went.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from feeder.checkpoint.kafka_records import CheckpointChanges, checkpoint_records, forget_records
from feeder.checkpoint.reports import RebuildProgress, StoreDescription, StoreSize
from feeder.checkpoint.sqlite import SqliteCheckpointStore
from feeder.core.records import OutgoingRecord
from feeder.core.state import FeedPosition, SessionState
from feeder.core.timestamps import utc_now
from feeder.errors import CheckpointUnavailableError
from feeder.kafka.admin import prepare_checkpoint_topic
from feeder.kafka.connection import KafkaConnection
from feeder.kafka.reader import ConsumerRecord, TopicPartition, read_partition
from feeder.kafka.transactions import TransactionalSink
from feeder.typing import Clock, RebuildObserver

logger = logging.getLogger("feeder.checkpoint")

_CHANGES_PER_CACHE_WRITE = 5000
_PROGRESS_EVERY_S = 2.0


class LoggingRebuildObserver:
    """Logs a rebuild's progress (percent, rate, ETA) every couple of seconds and its end, and
    tells ``also`` (the metrics) every step."""

    def __init__(self, also: RebuildObserver) -> None:
        self._also = also
        self._last_logged_s = 0.0

    def rebuild_progressed(self, progress: RebuildProgress) -> None:
        self._also.rebuild_progressed(progress)
        now_s = time.monotonic()
        if not progress.done and now_s - self._last_logged_s < _PROGRESS_EVERY_S:
            return
        self._last_logged_s = now_s
        rate = progress.records_read / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
        if progress.done:
            logger.info(
                "checkpoint rebuilt from Kafka: %d records in %.1f s",
                progress.records_read,
                progress.elapsed_s,
            )
            return
        left_s = (progress.records_total - progress.records_read) / rate if rate else float("nan")
        logger.info(
            "rebuilding the checkpoint from Kafka: %d of %d records (%.0f %%), %.0f records/s, "
            "about %.0f s left",
            progress.records_read,
            progress.records_total,
            100 * progress.records_read / max(1, progress.records_total),
            rate,
            left_s,
        )


class KafkaCheckpointStore:
    """Open with ``await KafkaCheckpointStore.open(...)``; see the module docstring."""

    def __init__(
        self,
        *,
        connection: KafkaConnection,
        writer: TransactionalSink,
        cache: SqliteCheckpointStore,
        partition: TopicPartition,
        observer: RebuildObserver,
    ) -> None:
        self._connection = connection
        self._writer = writer
        self._cache = cache
        self._partition = partition
        self._topic = partition.topic
        self._observer = observer
        self._next_offset = 0
        self._read_for_generation = -1  # the writer's generation the cache is in step with
        self._reading = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        connection: KafkaConnection,
        writer: TransactionalSink,
        *,
        cache_path: Path,
        observer: RebuildObserver,
        clock: Clock = utc_now,
    ) -> KafkaCheckpointStore:
        """Create the topic if missing (and configured), rebuild the cache from it.

        ``writer`` must be open already (it fenced the older instances, so the topic's end is
        final once their transactions are aborted)."""
        await prepare_checkpoint_topic(connection)
        for suffix in ("", "-wal", "-shm"):
            cache_path.with_name(cache_path.name + suffix).unlink(missing_ok=True)
        cache = await SqliteCheckpointStore.open(cache_path, clock=clock)
        store = cls(
            connection=connection,
            writer=writer,
            cache=cache,
            partition=TopicPartition(connection.settings.topics.checkpoint, 0),
            observer=observer,
        )
        try:
            await store._read_topic()
        except BaseException:
            await cache.aclose()
            raise
        return store

    async def _read_topic(self) -> None:
        """Apply what the topic holds from ``_next_offset`` to its committed end to the cache."""
        async with self._reading:
            generation = self._writer.generation
            if generation == self._read_for_generation:
                return
            started_s = time.monotonic()
            read = 0
            total = 0
            changes = CheckpointChanges({})

            async def take(records: Sequence[ConsumerRecord], end_offset: int) -> None:
                nonlocal read, total, changes
                total = max(0, end_offset - self._next_offset)
                for record in records:
                    changes.apply(record.key, record.value)
                    read += 1
                if len(changes.states) >= _CHANGES_PER_CACHE_WRITE:
                    await self._apply(changes)
                    changes = CheckpointChanges({})
                self._observer.rebuild_progressed(
                    RebuildProgress(read, total, time.monotonic() - started_s, done=False)
                )

            end_offset = await read_partition(
                self._connection,
                self._partition,
                from_offset=self._next_offset,
                what=f"the checkpoint topic {self._topic}",
                connecting="connecting the checkpoint reader",
                on_batch=take,
            )
            await self._apply(changes)
            total = max(0, end_offset - self._next_offset)
            self._next_offset = end_offset
            self._read_for_generation = generation
            self._observer.rebuild_progressed(
                RebuildProgress(read, total, time.monotonic() - started_s, done=True)
            )

    async def _apply(self, changes: CheckpointChanges) -> None:
        await self._cache.apply_rows(
            changes.states, changes.position, clear_position=changes.position_cleared
        )

    async def _in_step_with_kafka(self) -> None:
        if self._writer.generation != self._read_for_generation:
            await self._writer.settle()
            await self._read_topic()

    async def load_position(self) -> FeedPosition | None:
        await self._in_step_with_kafka()
        return await self._cache.load_position()

    async def load_states(self, session_ids: Collection[str]) -> dict[str, SessionState]:
        await self._in_step_with_kafka()
        return await self._cache.load_states(session_ids)

    def checkpoint_records(
        self, states: Iterable[SessionState], position: FeedPosition
    ) -> list[OutgoingRecord]:
        """The records that store ``states`` and ``position`` (for the page's transaction)."""
        return checkpoint_records(self._topic, states, position)

    async def remember(
        self,
        states: Iterable[SessionState],
        position: FeedPosition,
        *,
        written: Mapping[TopicPartition, int],
    ) -> None:
        """Cache what a committed transaction wrote (``written``: what ``publish_at`` said). If
        the cache cannot be written, it is read again from the topic before the next lookup
        (nothing committed is ever forgotten)."""
        try:
            await self._cache.commit(states, position)
        except CheckpointUnavailableError:
            self._read_for_generation = -1
            raise
        self._passed(written)

    def _passed(self, written: Mapping[TopicPartition, int]) -> None:
        """The cache holds the topic up to this process's last committed write (no one else
        writes it: they are fenced), so a later catch-up need not read what came before it."""
        if self._partition in written and self._writer.generation == self._read_for_generation:
            self._next_offset = max(self._next_offset, written[self._partition])

    async def commit(self, states: Iterable[SessionState], position: FeedPosition) -> None:
        states = list(states)
        written = await self._writer.publish_at(self.checkpoint_records(states, position))
        await self.remember(states, position, written=written)

    async def expired_sessions(self, expired_before: datetime, limit: int) -> list[str]:
        await self._in_step_with_kafka()
        return await self._cache.expired_sessions(expired_before, limit)

    async def forget(self, session_ids: Collection[str], expired_before: datetime) -> StoreSize:
        await self._in_step_with_kafka()
        known = await self._cache.load_states(session_ids)
        gone = [sid for sid, state in known.items() if state.prunable_from < expired_before]
        written = await self._writer.publish_at(forget_records(self._topic, gone))
        try:
            size = await self._cache.forget(gone, expired_before)
        except CheckpointUnavailableError:
            self._read_for_generation = -1
            raise
        self._passed(written)
        return size

    async def describe(self) -> StoreDescription:
        """The cache's description; ``last_commit_at`` is this process's last commit."""
        await self._in_step_with_kafka()
        return await self._cache.describe()

    async def rewind(self, position: FeedPosition, *, forget_since: datetime | None) -> int:
        await self._in_step_with_kafka()
        gone = (
            []
            if forget_since is None
            else await self._cache.session_ids(updated_since=forget_since)
        )
        await self._writer.publish(
            [*forget_records(self._topic, gone), *checkpoint_records(self._topic, (), position)]
        )
        await self._cache.rewind(position, forget_since=forget_since)
        return len(gone)

    async def reset(self) -> None:
        await self._in_step_with_kafka()
        gone = await self._cache.session_ids()
        await self._writer.publish(forget_records(self._topic, gone, position_too=True))
        await self._cache.reset()

    async def aclose(self) -> None:
        await self._cache.aclose()
