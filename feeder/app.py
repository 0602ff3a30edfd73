"""The composition root: builds every part from the settings, runs them, shuts them down.

This is the only module that knows every concrete class. Shutdown has two phases: SIGTERM or
SIGINT sets ``stopping`` (no new page is fetched; the page in flight may finish within
``sweep.shutdown_grace_s``, and its checkpoint commit is shielded), then the metrics server stops
and the sink and store close. A second signal cancels at once; nothing acknowledged is lost
either way, because the checkpoint only ever trails what Kafka acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import httpx
import orjson
from prometheus_client import CollectorRegistry

from feeder.checkpoint import (
    CheckpointStore,
    MemoryCheckpointStore,
    RebuildObserver,
    SqliteCheckpointStore,
)
from feeder.checkpoint.exclusive import exclusive_checkpoint
from feeder.checkpoint.kafka import KafkaCheckpointStore, LoggingRebuildObserver
from feeder.commands.topic_reader import latest_value_of_key
from feeder.core.encoding import LIVE, ContentMode, EventEncoding, KeyStrategy, Origin, backfill
from feeder.core.heartbeat import FeedActivity
from feeder.core.page_plan import PagePlan
from feeder.core.records import OutgoingRecord, TopicNames
from feeder.core.slices import Slice, slice_state_path, slice_window
from feeder.core.state import FeedPosition
from feeder.core.timestamps import EPOCH
from feeder.delivery import AtLeastOnceDelivery, ExactlyOnceDelivery, PageDelivery
from feeder.errors import ApiUnavailableError, ConfigError, FatalError
from feeder.loops import heartbeat_forever, poll_forever, prune_forever
from feeder.observability.http_server import (
    EmbeddedServer,
    bind_socket,
    embedded_server,
    health_app,
)
from feeder.observability.metrics import FeederMetrics
from feeder.settings import CheckpointSettings, FeederSettings, StartPosition
from feeder.sink import KafkaSink, RecordSink
from feeder.sink.connection import kafka_connection
from feeder.sink.kafka import prepare_topics
from feeder.sink.transactional import TransactionalSink
from feeder.source import NO_OP_OBSERVER, ApiObserver, SessionsApiClient
from feeder.source.timing import utc_now
from feeder.sweeper import PassReport, SweepConfig, Sweeper, SweepObserver

logger = logging.getLogger("feeder")
Clock = Callable[[], datetime]


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


async def _open_sink(stack: contextlib.AsyncExitStack, settings: FeederSettings) -> KafkaSink:
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
        sink = await _open_sink(stack, settings)
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
    sink = await _open_sink(stack, settings)
    return FeedParts(kafka_store, sink, AtLeastOnceDelivery(sink, kafka_store, clock))


async def _open_sweeper(
    stack: contextlib.AsyncExitStack,
    settings: FeederSettings,
    store: CheckpointStore,
    delivery: PageDelivery,
    *,
    position: FeedPosition,
    origin: Origin,
    clock: Clock,
    api_observer: ApiObserver,
    sweep_observer: SweepObserver,
    stopping: asyncio.Event,
    reread_delays_s: tuple[float, ...],
) -> Sweeper:
    """The API client and a sweeper over ``store`` and ``delivery``; the client closed by
    ``stack``."""
    client = await stack.enter_async_context(SessionsApiClient(settings.api, observer=api_observer))
    await _reachable_at_start(client)
    return _sweeper(
        settings,
        store,
        delivery,
        client,
        position=position,
        origin=origin,
        clock=clock,
        sweep_observer=sweep_observer,
        stopping=stopping,
        reread_delays_s=reread_delays_s,
    )


def _sweeper(
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


async def _reachable_at_start(client: SessionsApiClient) -> None:
    """One request before anything else: refused credentials (``AuthError``) or an API that
    cannot be reached at all stop the start with a message naming the setting. An API that
    answers but fails (5xx, throttling) is left to the sweep's retries."""
    try:
        await client.check()
    except ApiUnavailableError as exc:
        if not isinstance(exc.__cause__, httpx.TransportError | TimeoutError):
            logger.warning("the sessions API is failing at start-up (%s); the sweep retries", exc)
            return
        raise ConfigError(
            f"cannot reach the sessions API at start-up: {exc}; check FEEDER_API__BASE_URL"
        ) from exc


async def _refuse_a_lost_checkpoint(settings: FeederSettings) -> None:
    """Stop, naming the way out, when the checkpoint (file or topic) is empty although this feed
    has run before (its heartbeats say so) and no start position was set: starting at ``now``
    would silently skip everything that changed since the checkpoint was lost."""
    if (
        settings.checkpoint.backend == "memory"
        or not settings.heartbeat.enabled
        or "start_position" in settings.sweep.model_fields_set
    ):
        return
    async with kafka_connection(settings.kafka) as connection:
        value = await latest_value_of_key(
            connection, settings.kafka.topics.heartbeat, settings.feed_name.encode()
        )
    if value is None:
        return
    beat = orjson.loads(value)
    oldest = beat["watermarks"][-1]
    if settings.checkpoint.backend == "kafka":
        lost = f"the checkpoint topic {settings.kafka.topics.checkpoint}"
        restore = "Restore the topic (FEEDER_KAFKA__TOPICS__CHECKPOINT)"
    else:
        lost = f"the checkpoint at {settings.checkpoint.path}"
        restore = "Restore the checkpoint file (FEEDER_CHECKPOINT__PATH)"
    raise ConfigError(
        f"{lost} is empty, but feed "
        f"{settings.feed_name!r} ran before: its last heartbeat ({beat['time']}) had "
        f"published every change stamped before {oldest['watermark']} (up to "
        f"{oldest['latenessS']:g} s late). Starting from now would skip what changed since. "
        f"{restore}, or set "
        f"FEEDER_SWEEP__START_POSITION={oldest['watermark']} to sweep again from there "
        "(entries, exits and scans are published again under their ids; fraud and status "
        "changes are judged against no earlier state, see the README, Guarantees), or set it "
        "to now to skip that time on purpose"
    )


class OnePageAtATime:
    """A sink that hands over one page at a time, whoever calls: the slices of a backfill fetch
    and plan their pages concurrently, and take turns at the producer, as a single sweep does
    (a failed page discards the producer, which would fail every other page in flight)."""

    def __init__(self, sink: RecordSink) -> None:
        self._sink = sink
        self._turn = asyncio.Lock()

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        async with self._turn:
            await self._sink.publish(records)

    async def aclose(self) -> None:
        await self._sink.aclose()


class BackfillObserver(SweepObserver, Protocol):
    """Told what a backfill did, slice by slice: ``for_slice`` gives the observer of one slice's
    sweep, told first where the slice stands (``resumed_at``: the committed cursor)."""

    def for_slice(self, piece: Slice, resumed_at: datetime) -> SweepObserver: ...


async def run_backfill(
    settings: FeederSettings,
    *,
    start: datetime,
    end: datetime,
    state_path: Path,
    observer: BackfillObserver,
    clock: Clock = utc_now,
    slices: int = 1,
    concurrency: int = 1,
) -> tuple[FeedPosition, ...]:
    """Publish the events of ``[start, end]`` without touching the live checkpoint.

    The window is cut into ``slices`` (:func:`slice_window`), swept ``concurrency`` at a time
    through one API client (so under one request budget, ``api.requests_per_s``) and one sink.
    Each slice keeps its own SQLite state (``slice_state_path(state_path, slice)``): running it
    again with the same path and slice count resumes every slice where it stopped, and skips
    those done. Events carry the same deterministic ids the live feed gives the same
    transitions, so consumers can dedupe any overlap, and are marked as a replay of
    ``[start, end]`` (``origin=backfill``, ``backfillwindow``). Returns each slice's position.
    """
    pieces = slice_window(start, end, slices)
    positions: dict[int, FeedPosition] = {}
    async with contextlib.AsyncExitStack() as stack:
        sink = OnePageAtATime(await _open_sink(stack, settings))
        client = await stack.enter_async_context(
            SessionsApiClient(settings.api, observer=NO_OP_OBSERVER)
        )
        await _reachable_at_start(client)
        waiting = list(pieces)

        async def sweep_slices() -> None:
            while waiting:
                piece = waiting.pop(0)
                path = slice_state_path(state_path, piece)
                async with open_store(CheckpointSettings(backend="sqlite", path=path)) as store:
                    position = await store.load_position() or FeedPosition(start, piece.start)
                    sweeper = _sweeper(
                        settings,
                        store,
                        AtLeastOnceDelivery(sink, store, clock),
                        client,
                        position=position,
                        origin=backfill(start, end),
                        clock=clock,
                        sweep_observer=observer.for_slice(piece, position.live),
                        stopping=asyncio.Event(),
                        reread_delays_s=(),  # one read of a past window: nothing is late any more
                    )
                    await sweeper.backfill(piece.end)
                    positions[piece.index] = sweeper.position

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(max(1, concurrency), len(pieces))):
                    group.create_task(sweep_slices())
        except BaseExceptionGroup as group:
            # The first slice to fail stopped the others (their pages in flight were not
            # committed, so a rerun sends them again); callers see that failure itself.
            raise _first_error(group)  # noqa: B904 - its own cause stays as it was
    return tuple(positions[piece.index] for piece in pieces)


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first


class FeedApp:
    """One feed: ``await FeedApp(settings).run()`` until ``stopping`` is set or a signal comes.

    Tests and the demo read ``metrics``, ``metrics_port`` and ``sweeper`` while it runs; fatal
    errors (credentials, settings, fencing) propagate out of ``run``.
    """

    def __init__(
        self,
        settings: FeederSettings,
        *,
        clock: Clock = utc_now,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.stopping = stopping or asyncio.Event()
        self.metrics = FeederMetrics(CollectorRegistry(), clock)
        self.sweeper: Sweeper | None = None
        self.activity: FeedActivity | None = None
        self.metrics_port: int | None = None
        self.started = asyncio.Event()

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        settings = self.settings
        listener = bind_socket(settings.observability.host, settings.observability.port)
        self.metrics_port = int(listener.getsockname()[1])
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(listener.close)
            parts = await open_feed_parts(
                stack, settings, clock=self.clock, rebuild_observer=self.metrics
            )
            store, sink = parts.store, parts.sink
            if await store.load_position() is None:
                # before the API's first request: nothing slow between it and the first read
                await _refuse_a_lost_checkpoint(settings)
            delays_s = settings.sweep.all_reread_delays_s
            position = await Sweeper.resume_position(
                store, feed_start(settings.sweep.start_position, self.clock()), delays_s
            )
            self.activity = FeedActivity(
                feed=settings.feed_name,
                started_at=self.clock(),
                resumed_at=position,
                topics=topic_names(settings),
            )
            self.sweeper = await _open_sweeper(
                stack,
                settings,
                store,
                parts.delivery,
                position=position,
                origin=LIVE,
                clock=self.clock,
                api_observer=self.metrics,
                sweep_observer=ActivityObserver(self.metrics, self.activity),
                stopping=self.stopping,
                reread_delays_s=delays_s,
            )
            await self._supervise(self.sweeper, store, sink, listener, install_signal_handlers)
            logger.info("stopped at %s", self.sweeper.position)

    async def _supervise(
        self,
        sweeper: Sweeper,
        store: CheckpointStore,
        sink: RecordSink,
        listener: socket.socket,
        install_signal_handlers: bool,
    ) -> None:
        server = embedded_server(
            health_app(self.metrics, self.clock, self.settings.observability.ready_max_sweep_age_s)
        )
        try:
            await self._run_tasks(
                sweeper,
                store,
                sink,
                server,
                listener,
                install_signal_handlers=install_signal_handlers,
            )
        except BaseExceptionGroup as group:
            # Surface the fatal error itself (not a group) so the CLI can print its message.
            fatal = group.subgroup(FatalError)
            if fatal is None:
                raise
            raise _first_leaf(fatal) from group

    async def _run_tasks(
        self,
        sweeper: Sweeper,
        store: CheckpointStore,
        sink: RecordSink,
        server: EmbeddedServer,
        listener: socket.socket,
        *,
        install_signal_handlers: bool,
    ) -> None:
        sweep = self.settings.sweep
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(server.serve(sockets=[listener]), name="metrics-server")
            poll = tasks.create_task(
                poll_forever(
                    sweeper,
                    stopping=self.stopping,
                    poll_interval_s=sweep.poll_interval_s,
                    error_backoff_max_s=sweep.error_backoff_max_s,
                    observer=self.metrics,
                ),
                name="poll",
            )
            tasks.create_task(
                prune_forever(
                    store,
                    sink,
                    topics=topic_names(self.settings),
                    stopping=self.stopping,
                    clock=self.clock,
                    retention_s=sweep.session_retention_s,
                    interval_s=sweep.prune_interval_s,
                    observer=self.metrics,
                ),
                name="prune",
            )
            if self.settings.heartbeat.enabled and self.activity is not None:
                tasks.create_task(self._heartbeats(sweeper, sink, self.activity), name="heartbeat")
            with _signals_set(self.stopping, poll, enabled=install_signal_handlers):
                logger.info(
                    "feeding from %s, resuming at %s; metrics on http://%s:%d/metrics",
                    self.settings.api.base_url,
                    sweeper.position,
                    self.settings.observability.host,
                    self.metrics_port,
                )
                self.started.set()
                await self.stopping.wait()
                logger.info(
                    "stopping: the page in flight has %.0f s to finish", sweep.shutdown_grace_s
                )
                _, pending = await asyncio.wait({poll}, timeout=sweep.shutdown_grace_s)
                if pending:
                    logger.warning("the page in flight did not finish in time; abandoning it")
                    poll.cancel()
                server.should_exit = True

    async def _heartbeats(self, sweeper: Sweeper, sink: RecordSink, activity: FeedActivity) -> None:
        settings = self.settings
        await heartbeat_forever(
            sink,
            activity=activity,
            position=lambda: sweeper.position,
            topic=settings.kafka.topics.heartbeat,
            encoding=event_encoding(settings, LIVE),
            partition_watermarks_topic=(
                settings.kafka.topics.events if settings.heartbeat.partition_watermarks else None
            ),
            stopping=self.stopping,
            clock=self.clock,
            interval_s=settings.heartbeat.interval_s,
            observer=self.metrics,
        )


class ActivityObserver:
    """The live sweep's observer: the metrics, and the activity heartbeats report."""

    def __init__(self, metrics: FeederMetrics, activity: FeedActivity) -> None:
        self._metrics = metrics
        self._activity = activity

    def page_written(
        self,
        sweep: str,
        plan: PagePlan,
        records: Sequence[OutgoingRecord],
        *,
        commit_s: float,
        acked_at: datetime,
    ) -> None:
        self._metrics.page_written(sweep, plan, records, commit_s=commit_s, acked_at=acked_at)
        self._activity.page_written(records)

    def read_finished(self, sweep: str, started_at: datetime, now: datetime) -> None:
        self._metrics.read_finished(sweep, started_at, now)

    def tick_finished(self, report: PassReport) -> None:
        self._metrics.tick_finished(report)
        self._activity.tick_finished(report.live_read_at, report.skipped)


def _first_leaf(group: BaseExceptionGroup[FatalError]) -> FatalError:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


@contextlib.contextmanager
def _signals_set(
    stopping: asyncio.Event, poll: asyncio.Task[None], *, enabled: bool
) -> Iterator[None]:
    """First SIGINT/SIGTERM: stop gracefully. Second one: abandon the page in flight now."""
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        if stopping.is_set():
            logger.warning("second %s: stopping now", signum.name)
            poll.cancel()
            return
        logger.info("%s received", signum.name)
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        yield
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
