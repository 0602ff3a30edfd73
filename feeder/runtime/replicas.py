"""Replicas sharing feeds through a Kafka consumer group (``replicas.enabled``).

Every replica joins the group ``replicas.group_id`` on the control topic, which has one
partition per feed (feeds in name order). Owning partition *i* means running feed *i*; Kafka's
group coordinator decides who owns what, so when a replica dies (no heartbeat for
``replicas.session_timeout_s``) or leaves, its feeds go to the others, and a joining replica
takes some over. Nothing is ever written to the control topic: the group membership is all.

A feed moving keeps its guarantee because of fencing, not because of timing: the new owner's
transactional producer (``feeder-<feed name>``) fences the old owner at start, so a replica
that lost a feed but has not noticed yet can no longer write to it (its feed stops with
``FencedError``, which is expected here and logged). The other way round happens too: a
previous owner still starting when the feed moved registers its producer after the new
owner's and fences it; the new owner, which the group still gives the feed, starts it again a
heartbeat interval later (``feeder_replica_feeds_fenced_total``). Rebalances use the eager
protocol: feeds this replica keeps go on running through it; feeds it lost are stopped when the
new assignment arrives.

A replica without feeds is a hot standby: it holds its place in the group, and gets feeds as
soon as a replica dies (after ``replicas.session_timeout_s``) or leaves (at once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from feeder.errors import FencedError
from feeder.kafka.admin import prepare_control_topic
from feeder.kafka.connection import kafka_connection
from feeder.kafka.group import GroupMembership, group_membership
from feeder.observability.http_server import bind_socket, embedded_server, metrics_app
from feeder.runtime.feed import FeedApp
from feeder.runtime.signals import stop_on_signals
from feeder.settings import FeederSettings
from feeder.typing import Clock

logger = logging.getLogger("feeder.runtime.replicas")


class ReplicaMetrics:
    """What this replica runs; each feed's own metrics are added with a ``feed`` label."""

    def __init__(self, registry: CollectorRegistry, replica: str, feeds: list[str]) -> None:
        self.registry = registry
        self.running = Gauge(
            "feeder_replica_feed_running",
            "1 for each feed this replica runs now, 0 for the others (sum by feed: 1)",
            ["replica", "feed"],
            registry=registry,
        )
        self.rebalances = Counter(
            "feeder_replica_rebalances",
            "assignments of feeds this replica received from the group",
            ["replica"],
            registry=registry,
        )
        self.fenced = Counter(
            "feeder_replica_feeds_fenced",
            "feeds this replica ran that another instance fenced (taken over)",
            ["replica", "feed"],
            registry=registry,
        )
        self.replica = replica
        for feed in feeds:
            self.running.labels(replica, feed).set(0)


class FeedsCollector(Collector):
    """Every running feed's metrics, each sample labelled with its ``feed``."""

    def __init__(self, apps: Callable[[], dict[str, FeedApp]]) -> None:
        self._apps = apps

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for feed, app in sorted(self._apps().items()):
            for family in app.metrics.registry.collect():
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type, family.unit)
                )
                for sample in family.samples:
                    merged.add_sample(
                        sample.name,
                        {**sample.labels, "feed": feed},
                        sample.value,
                        sample.timestamp,
                        sample.exemplar,
                    )
        yield from families.values()


@dataclass
class _RunningFeed:
    app: FeedApp
    task: asyncio.Task[None]
    stopping: asyncio.Event
    released: bool = False  # stopped because the group gave the feed to another replica


class Replica:
    """``await Replica(settings, feeds).run()``: run the feeds the group gives this replica
    until ``stopping`` is set; fatal errors of a feed this replica still owns propagate."""

    def __init__(
        self,
        settings: FeederSettings,
        feeds: list[FeederSettings],
        *,
        clock: Clock,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.feeds = feeds
        self.clock = clock
        self.stopping = stopping or asyncio.Event()
        self.name = settings.replicas.replica_name
        self.metrics = ReplicaMetrics(
            CollectorRegistry(), self.name, [feed.feed_name for feed in feeds]
        )
        self.metrics.registry.register(FeedsCollector(self.running_apps))
        self.joined = asyncio.Event()
        self._running: dict[str, _RunningFeed] = {}
        self._owned: set[str] = set()
        self._failure: BaseException | None = None
        self._restarts: dict[str, asyncio.TimerHandle] = {}
        self.metrics_port: int | None = None

    def running_apps(self) -> dict[str, FeedApp]:
        return {name: feed.app for name, feed in self._running.items()}

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        observability = self.settings.observability
        listener = bind_socket(observability.host, observability.port)
        self.metrics_port = int(listener.getsockname()[1])
        server = embedded_server(metrics_app(self.metrics.registry, self._readiness))
        serving = asyncio.create_task(server.serve(sockets=[listener]), name="replica-metrics")
        try:
            with stop_on_signals(self.stopping, enabled=install_signal_handlers):
                await self._run_in_group()
        finally:
            server.should_exit = True
            await serving
            listener.close()
        if self._failure is not None:
            raise self._failure

    def _readiness(self) -> tuple[bool, str]:
        if not self.joined.is_set():
            return False, "not in the replica group yet"
        return True, f"runs {', '.join(sorted(self._running)) or 'no feed'}"

    async def _run_in_group(self) -> None:
        replicas = self.settings.replicas
        async with kafka_connection(self.settings.kafka) as connection:
            await prepare_control_topic(connection, replicas.control_topic, len(self.feeds))
            async with group_membership(
                connection,
                group_id=replicas.group_id,
                topic=replicas.control_topic,
                session_timeout_s=replicas.session_timeout_s,
                heartbeat_interval_s=replicas.heartbeat_interval_s,
                on_assigned=self.assigned,
            ) as membership:
                try:
                    await self._hold_membership(membership)
                finally:
                    await self._stop_all()  # then leaving the group: the others take over now

    async def _hold_membership(self, membership: GroupMembership) -> None:
        while not self.stopping.is_set() and self._failure is None:
            await membership.hold(timeout_ms=500)  # keeps the membership; nothing is sent
            self._collect_finished()

    def assigned(self, partitions: set[int]) -> None:
        """The group's new assignment: stop what moved away, start what came here."""
        self.metrics.rebalances.labels(self.name).inc()
        owned = {self.feeds[p].feed_name for p in partitions if p < len(self.feeds)}
        self._owned = owned
        self.joined.set()
        for name, running in self._running.items():
            if name not in owned and not running.stopping.is_set():
                logger.info("feed %s moved to another replica; stopping it here", name)
                running.released = True
                running.stopping.set()
        for feed in self.feeds:
            if feed.feed_name in owned and feed.feed_name not in self._running:
                self._start(feed)
        logger.info("replica %s runs feeds: %s", self.name, ", ".join(sorted(owned)) or "none")

    def _start(self, feed: FeederSettings) -> None:
        stopping = asyncio.Event()
        # the replica serves every feed's metrics on its own port; a feed's server takes any
        # free one (with no FEEDER_FEEDS the one feed's settings are the replica's)
        observability = feed.observability.model_copy(update={"port": 0})
        own = feed.model_copy(update={"observability": observability})
        app = FeedApp(own, clock=self.clock, stopping=stopping)
        task = asyncio.create_task(
            app.run(install_signal_handlers=False), name=f"feed-{feed.feed_name}"
        )
        self._running[feed.feed_name] = _RunningFeed(app, task, stopping)
        self.metrics.running.labels(self.name, feed.feed_name).set(1)
        logger.info("replica %s starts feed %s", self.name, feed.feed_name)

    def _collect_finished(self) -> None:
        for name, running in list(self._running.items()):
            if not running.task.done():
                continue
            del self._running[name]
            self.metrics.running.labels(self.name, name).set(0)
            error = None if running.task.cancelled() else running.task.exception()
            if error is None or running.released or name not in self._owned:
                if error is not None:
                    logger.info("feed %s stopped after it moved away: %s", name, error)
                continue
            if isinstance(error, FencedError):
                self.metrics.fenced.labels(self.name, name).inc()
                logger.warning(
                    "%s; the group still gives it to %s: starting it again", error, self.name
                )
                self._start_again_later(name)
                continue
            logger.error("feed %s failed: %s", name, error)
            self._failure = error  # the replica stops: its feeds move to the others
        if self._failure is not None or self.stopping.is_set():
            return
        for feed in self.feeds:  # one given back while it was still stopping starts again
            name = feed.feed_name
            if name in self._owned and name not in self._running and name not in self._restarts:
                self._start(feed)

    def _start_again_later(self, name: str) -> None:
        """A feed this replica owns was fenced: by its previous owner, still starting when the
        feed moved here (its producer registered after ours), or by an instance outside the
        group. Start it again a heartbeat interval later, fencing that one in turn; a previous
        owner stops for good once it sees the feed is no longer its own."""

        def again() -> None:
            self._restarts.pop(name, None)
            feed = next(f for f in self.feeds if f.feed_name == name)
            if name in self._owned and name not in self._running and not self.stopping.is_set():
                self._start(feed)

        loop = asyncio.get_running_loop()
        self._restarts[name] = loop.call_later(self.settings.replicas.heartbeat_interval_s, again)

    async def _stop_all(self) -> None:
        for handle in self._restarts.values():
            handle.cancel()
        for running in self._running.values():
            running.released = True
            running.stopping.set()
        tasks = [running.task for running in self._running.values()]
        if tasks:
            grace_s = max(feed.sweep.shutdown_grace_s for feed in self.feeds) + 5
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for name in list(self._running):
            self.metrics.running.labels(self.name, name).set(0)
        self._running.clear()
