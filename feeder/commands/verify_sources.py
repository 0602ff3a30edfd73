"""Where ``feeder verify`` reads from: a window of the sessions list, and the events topic.

The API window is read once through the API client, so under the same request budget
(``FEEDER_API__REQUESTS_PER_S``) and retries as the feed. The events topic is read without a
consumer group or committed offsets, from its beginning to the end offsets it had when it was
opened, *before* the API is read: every event read then reflects a state the API had already
reached when it was read, so a session that changes while the audit runs cannot look
contradicted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime

from feeder.audit.published import PublishedEvent, decode_event
from feeder.commands.tailed_records import ConsumedMessage
from feeder.core.page_plan import parse_page
from feeder.core.snapshot import SessionSnapshot
from feeder.errors import ApiUnavailableError, SinkUnavailableError
from feeder.kafka.connection import kafka_connection
from feeder.kafka.reader import (
    Consumer,
    KafkaError,
    TopicPartition,
    assigned_consumer,
    stop_consumer,
)
from feeder.settings import KafkaSettings
from feeder.source.page import PageQuery
from feeder.typing import PageSource

_POLL_MS = 500


@dataclass(slots=True)
class WindowRead:
    """The valid sessions of a window and how many records were not valid sessions."""

    snapshots: list[SessionSnapshot] = field(default_factory=list)
    unreadable: int = 0
    pages: int = 0

    @property
    def records(self) -> int:
        return len(self.snapshots) + self.unreadable


async def read_window(
    source: PageSource,
    start: datetime,
    end: datetime,
    *,
    page_size: int,
    on_page: Callable[[WindowRead], None],
) -> WindowRead:
    """Every session whose ``updatedAt`` is in ``[start, end]``, following the API's cursor as
    the sweep does; ``on_page`` is told after each page."""
    read = WindowRead()
    after: str | None = None
    while True:
        page = await source.fetch_page(PageQuery(start, end, page_size, after))
        if page.next_after is not None and page.next_after == after:
            raise ApiUnavailableError(
                f"the API returned the cursor it was given ({after!r}); refusing to loop"
            )
        parsed = parse_page(page.sessions)
        read.snapshots.extend(parsed.snapshots)
        read.unreadable += len(parsed.dead_letters)
        read.pages += 1
        on_page(read)
        if page.next_after is None:
            return read
        after = page.next_after


@dataclass(slots=True)
class TopicRead:
    events: list[PublishedEvent] = field(default_factory=list)
    records: int = 0
    unreadable: int = 0


def _unavailable(kafka: KafkaSettings, exc: BaseException) -> SinkUnavailableError:
    return SinkUnavailableError(
        f"cannot read from Kafka at {kafka.bootstrap_servers}: {exc!r}; check "
        "FEEDER_KAFKA__BOOTSTRAP_SERVERS"
    )


class EventTopic:
    """Open with ``async with EventTopic.opened(kafka, topic) as topic``; then ``read``."""

    def __init__(
        self,
        kafka: KafkaSettings,
        consumer: Consumer,
        beginnings: dict[TopicPartition, int],
        ends: dict[TopicPartition, int],
    ) -> None:
        self._kafka = kafka
        self._consumer = consumer
        self._beginnings = beginnings
        self._ends = ends

    @property
    def records_to_read(self) -> int:
        return sum(self._ends[tp] - self._beginnings[tp] for tp in self._ends)

    @classmethod
    @contextlib.asynccontextmanager
    async def opened(cls, kafka: KafkaSettings, topic: str) -> AsyncIterator[EventTopic]:
        """Every partition of ``topic`` assigned, at its beginning, with its end noted now."""
        async with kafka_connection(kafka) as connection:
            consumer, partitions = await assigned_consumer(connection, [topic])
            try:
                async with asyncio.timeout(kafka.send_timeout_s):
                    await consumer.seek_to_beginning(*partitions)
                    beginnings = await consumer.beginning_offsets(partitions)
                    ends = await consumer.end_offsets(partitions)
            except (TimeoutError, KafkaError, OSError) as exc:
                await cls._stop(consumer, kafka)
                raise _unavailable(kafka, exc) from exc
            except BaseException:
                await cls._stop(consumer, kafka)
                raise
            try:
                yield cls(kafka, consumer, beginnings, ends)
            finally:
                await cls._stop(consumer, kafka)

    @staticmethod
    async def _stop(consumer: Consumer, kafka: KafkaSettings) -> None:
        await stop_consumer(consumer, kafka.send_timeout_s)

    async def read(self, on_progress: Callable[[TopicRead], None]) -> TopicRead:
        """Every record up to the noted ends, decoded; ``SinkUnavailableError`` if reading
        stalls for ``send_timeout_s``."""
        read = TopicRead()
        loop = asyncio.get_running_loop()
        try:
            remaining = {tp for tp, end in self._ends.items() if end > self._beginnings[tp]}
            last_progress_s = loop.time()
            while remaining:
                batches = await self._consumer.getmany(*remaining, timeout_ms=_POLL_MS)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset < self._ends[tp]:
                            self._take(read, record)
                for tp in list(remaining):
                    if await self._consumer.position(tp) >= self._ends[tp]:
                        remaining.discard(tp)
                if batches:
                    last_progress_s = loop.time()
                    on_progress(read)
                elif loop.time() - last_progress_s > self._kafka.send_timeout_s:
                    raise SinkUnavailableError(
                        f"reading the events topic stalled for {self._kafka.send_timeout_s} s "
                        "(FEEDER_KAFKA__SEND_TIMEOUT_S) before its end"
                    )
        except KafkaError as exc:
            raise _unavailable(self._kafka, exc) from exc
        return read

    @staticmethod
    def _take(read: TopicRead, record: ConsumedMessage) -> None:
        read.records += 1
        event = decode_event(
            record.key,
            record.headers,
            record.value,
            partition=record.partition,
            offset=record.offset,
        )
        if event is None:
            read.unreadable += 1
        else:
            read.events.append(event)
