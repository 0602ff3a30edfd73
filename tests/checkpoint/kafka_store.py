"""Opening a Kafka checkpoint store on the test broker, as ``feeder run`` does."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

from feeder.checkpoint import RebuildProgress
from feeder.checkpoint.kafka import KafkaCheckpointStore
from feeder.kafka.connection import kafka_connection
from feeder.kafka.transactions import TransactionalSink
from feeder.settings import KafkaSettings, TopicSettings


class RecordedProgress:
    def __init__(self) -> None:
        self.steps: list[RebuildProgress] = []

    def rebuild_progressed(self, progress: RebuildProgress) -> None:
        self.steps.append(progress)


def kafka_store_settings(bootstrap: str, topic: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap, send_timeout_s=15, topics=TopicSettings(checkpoint=topic)
    )


@contextlib.asynccontextmanager
async def open_kafka_store(
    bootstrap: str,
    topic: str,
    cache_dir: Path,
    clock: Callable[[], datetime],
    *,
    feed: str | None = None,
) -> AsyncIterator[tuple[KafkaCheckpointStore, RecordedProgress, TransactionalSink]]:
    """A Kafka store on ``topic`` (feed ``feed``, default: the topic's name), cached under
    ``cache_dir``, with its progress and its writer; the writer is closed on exit, the store is
    the caller's to close."""
    progress = RecordedProgress()
    async with kafka_connection(kafka_store_settings(bootstrap, topic)) as connection:
        writer = await TransactionalSink.open(
            connection, transactional_id=f"feeder-{feed or topic}", transaction_timeout_s=60
        )
        try:
            store = await KafkaCheckpointStore.open(
                connection,
                writer,
                cache_path=cache_dir / f"{topic}.cache.sqlite3",
                observer=progress,
                clock=clock,
            )
            yield store, progress, writer
        finally:
            await writer.aclose()
