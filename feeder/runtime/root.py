"""The composition root: builds every part of a feed from the settings.

This is the only module that knows every concrete class: the stores, the sinks, the deliveries,
the API client, the sweeper and the metrics. The rest of :mod:`feeder.runtime` runs what it
builds: a live feed (:mod:`~feeder.runtime.feed`), a backfill (:mod:`~feeder.runtime.backfill`),
replicas (:mod:`~feeder.runtime.replicas`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry

from feeder.checkpoint import MemoryCheckpointStore, SqliteCheckpointStore
from feeder.checkpoint.exclusive import exclusive_checkpoint
from feeder.checkpoint.kafka import KafkaCheckpointStore, LoggingRebuildObserver
from feeder.core.encoding import ContentMode, EventEncoding, KeyStrategy, Origin
from feeder.core.records import TopicNames
from feeder.core.state import FeedPosition
from feeder.core.timestamps import EPOCH
from feeder.errors import ConfigError
from feeder.kafka.admin import prepare_topics
from feeder.kafka.connection import kafka_connection
from feeder.kafka.transactions import TransactionalSink
from feeder.observability.http_server import EmbeddedServer, embedded_server, health_app
from feeder.observability.metrics import FeederMetrics
from feeder.runtime.guards import reachable_at_start
from feeder.settings import CheckpointSettings, FeederSettings, StartPosition
from feeder.sink import KafkaSink
from feeder.source import SessionsApiClient
from feeder.sweep.delivery import AtLeastOnceDelivery, ExactlyOnceDelivery
from feeder.sweep.sweeper import SweepConfig, Sweeper
from feeder.typing import (
    ApiObserver,
    CheckpointStore,
    Clock,
    PageDelivery,
    RebuildObserver,
    RecordSink,
    SweepObserver,
)


def feed_start(start_position: StartPosition, now: datetime) -> datetime:
    if start_position == "now":
        return now
    if start_position == "earliest":
        return EPOCH
    return start_position


def topic_names(settings: FeederSettings) -> TopicNames:
    topics = settings.kafka.topics
    return TopicNames(topics.events, topics.fraud, topics.state, topics.dead_letter)


def event_encoding(settings: FeederSettings, origin: Origin) -> EventEncoding:
    """How this run's events are encoded: the settings, and whether it is live or a backfill."""
    events = settings.events
    return EventEncoding(
        source=events.source,
        content_mode=ContentMode(events.content_mode),
        origin=origin,
        field_policy=events.field_policy(),
        key_strategy=KeyStrategy(events.key_strategy),
    )


@contextlib.asynccontextmanager
async def open_store(settings: CheckpointSettings) -> AsyncIterator[CheckpointStore]:
    """A local store (sqlite or memory); a SQLite checkpoint is held exclusively while it is
    open. The Kafka store needs the feed's Kafka parts: ``open_feed_parts``."""
    if settings.backend == "kafka":
        raise ConfigError("the kafka checkpoint backend is opened by open_feed_parts")
    if settings.backend == "memory":
        yield MemoryCheckpointStore()
        return
    with exclusive_checkpoint(settings.path):
        store = await SqliteCheckpointStore.open(settings.path)
        try:
            yield store
        finally:
            await store.aclose()


async def open_sink(stack: contextlib.AsyncExitStack, settings: FeederSettings) -> KafkaSink:
    """The Kafka sink (topics created if configured), closed by ``stack``."""
    sink = await KafkaSink.open(settings.kafka)
    stack.push_async_callback(sink.aclose)
    return sink


@dataclass(frozen=True, slots=True)
class FeedParts:
    """What a feed writes through: the store, the sink of heartbeats and tombstones, and the
    delivery of pages (events and checkpoint together)."""

    store: CheckpointStore
    sink: RecordSink
    delivery: PageDelivery


async def open_feed_parts(
    stack: contextlib.AsyncExitStack,
    settings: FeederSettings,
    *,
    clock: Clock,
    rebuild_observer: RebuildObserver,
) -> FeedParts:
    """The store, sink and delivery the settings ask for, closed by ``stack``.

    With the Kafka store the feed's transactional producer starts first: that fences every
    older instance of the feed (anywhere) before the store reads the checkpoint topic. In
    at-least-once mode it only writes the checkpoint, and events go through the idempotent
    producer; in exactly-once mode it writes everything.
    """
    if settings.checkpoint.backend != "kafka":
        store = await stack.enter_async_context(open_store(settings.checkpoint))
        sink = await open_sink(stack, settings)
        return FeedParts(store, sink, AtLeastOnceDelivery(sink, store, clock))
    stack.enter_context(exclusive_checkpoint(settings.checkpoint.path))  # its local cache
    connection = await stack.enter_async_context(kafka_connection(settings.kafka))
    await prepare_topics(connection)
    writer = await TransactionalSink.open(
        connection,
        transactional_id=settings.transactional_id,
        transaction_timeout_s=settings.delivery.transaction_timeout_s,
    )
    stack.push_async_callback(writer.aclose)
    kafka_store = await KafkaCheckpointStore.open(
        connection,
        writer,
        cache_path=settings.checkpoint.path,
        observer=LoggingRebuildObserver(rebuild_observer),
    )
    stack.push_async_callback(kafka_store.aclose)
    if settings.delivery.mode == "exactly-once":
        return FeedParts(kafka_store, writer, ExactlyOnceDelivery(writer, kafka_store, clock))
    sink = await open_sink(stack, settings)
    return FeedParts(kafka_store, sink, AtLeastOnceDelivery(sink, kafka_store, clock))


def build_sweeper(
    settings: FeederSettings,
    store: CheckpointStore,
    delivery: PageDelivery,
    client: SessionsApiClient,
    *,
    position: FeedPosition,
    origin: Origin,
    clock: Clock,
    sweep_observer: SweepObserver,
    stopping: asyncio.Event,
    reread_delays_s: tuple[float, ...],
) -> Sweeper:
    return Sweeper(
        source=client,
        delivery=delivery,
        store=store,
        config=SweepConfig(
            page_size=settings.api.page_size,
            poll_interval_s=settings.sweep.poll_interval_s,
            reread_delays_s=reread_delays_s,
            max_record_bytes=settings.kafka.max_record_bytes,
            encoding=event_encoding(settings, origin),
            topics=topic_names(settings),
        ),
        position=position,
        clock=clock,
        observer=sweep_observer,
        stopping=stopping,
    )


async def open_api_client(
    stack: contextlib.AsyncExitStack, settings: FeederSettings, *, observer: ApiObserver
) -> SessionsApiClient:
    """The sessions API client, checked reachable (:func:`reachable_at_start`), closed by
    ``stack``."""
    client = await stack.enter_async_context(SessionsApiClient(settings.api, observer=observer))
    await reachable_at_start(client)
    return client


def at_least_once(sink: RecordSink, store: CheckpointStore, clock: Clock) -> PageDelivery:
    """Publish a page, then commit its checkpoint (a backfill slice's delivery)."""
    return AtLeastOnceDelivery(sink, store, clock)


def feed_metrics(clock: Clock) -> FeederMetrics:
    """A feed's metrics, in a registry of their own."""
    return FeederMetrics(CollectorRegistry(), clock)


def health_server(metrics: FeederMetrics, settings: FeederSettings, clock: Clock) -> EmbeddedServer:
    """The server of ``/metrics``, ``/healthz`` and ``/readyz``."""
    return embedded_server(
        health_app(metrics, clock, settings.observability.ready_max_sweep_age_s)
    )
