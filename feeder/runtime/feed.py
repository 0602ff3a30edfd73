"""A live feed's life: ``await FeedApp(settings).run()``.

The parts come from the composition root (:mod:`feeder.runtime.root`); this module runs them in
one ``asyncio.TaskGroup`` (the metrics server, the poll, prune and heartbeat loops) and shuts them
down in two phases: SIGTERM or SIGINT sets ``stopping`` (no new page is fetched; the page in
flight may finish within ``sweep.shutdown_grace_s``, and its checkpoint commit is shielded),
then the metrics server stops and the sink and store close. A second signal cancels at once;
nothing acknowledged is lost either way, because the checkpoint only ever trails what Kafka
acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence
from datetime import datetime

from feeder.core.encoding import LIVE
from feeder.core.heartbeat import FeedActivity
from feeder.core.page_plan import PagePlan
from feeder.core.records import OutgoingRecord
from feeder.core.timestamps import utc_now
from feeder.errors import FatalError, first_leaf
from feeder.observability.http_server import EmbeddedServer, bind_socket
from feeder.observability.metrics import FeederMetrics
from feeder.runtime.guards import refuse_a_lost_checkpoint
from feeder.runtime.root import (
    build_sweeper,
    event_encoding,
    feed_metrics,
    feed_start,
    health_server,
    open_api_client,
    open_feed_parts,
    topic_names,
)
from feeder.runtime.signals import stop_on_signals
from feeder.settings import FeederSettings
from feeder.sweep.loops import heartbeat_forever, poll_forever, prune_forever
from feeder.sweep.sweeper import PassReport, Sweeper
from feeder.typing import CheckpointStore, Clock, RecordSink

logger = logging.getLogger("feeder")


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
        self.metrics = feed_metrics(clock)
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
                await refuse_a_lost_checkpoint(settings)
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
            client = await open_api_client(stack, settings, observer=self.metrics)
            self.sweeper = build_sweeper(
                settings,
                store,
                parts.delivery,
                client,
                position=position,
                origin=LIVE,
                clock=self.clock,
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
        server = health_server(self.metrics, self.settings, self.clock)
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
            raise first_leaf(fatal) from group

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
            signals = stop_on_signals(
                self.stopping, enabled=install_signal_handlers, at_once=poll.cancel
            )
            with signals:
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
        pass_name: str,
        plan: PagePlan,
        records: Sequence[OutgoingRecord],
        *,
        commit_s: float,
        acked_at: datetime,
    ) -> None:
        self._metrics.page_written(pass_name, plan, records, commit_s=commit_s, acked_at=acked_at)
        self._activity.page_written(records)

    def read_finished(self, pass_name: str, started_at: datetime, now: datetime) -> None:
        self._metrics.read_finished(pass_name, started_at, now)

    def tick_finished(self, report: PassReport) -> None:
        self._metrics.tick_finished(report)
        self._activity.tick_finished(report.live_read_at, report.skipped)
