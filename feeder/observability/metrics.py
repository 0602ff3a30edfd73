"""Prometheus metrics (names in base units, prefix ``feeder_``, no unbounded labels).

Longer than the ~450 lines a module gets here, on purpose: :class:`FeederMetrics` is one
registry of about forty families, each declared beside the observer method that updates it, and
the README, the alert rules and the dashboard name them all; split, the names would be in several
places and the observers' updates away from their declarations.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from feeder import __version__
from feeder.checkpoint import RebuildProgress, StoreSize
from feeder.core.diff import EventType
from feeder.core.events import ChangeEvent
from feeder.core.page_plan import PagePlan
from feeder.core.passes import PassName
from feeder.core.records import OutgoingRecord
from feeder.core.snapshot import SessionSnapshot
from feeder.core.state import reread_name
from feeder.errors import RetriableError, SinkUnavailableError
from feeder.observability.recent_histogram import RecentHistogram
from feeder.source.observer import (
    AttemptOutcome,
    RetryReason,
    TokenRefreshOutcome,
    TokenSource,
)
from feeder.source.page import MalformedBodyProblem
from feeder.sweep.sweeper import PassReport

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_FRESHNESS_BUCKETS_S = (0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300, 900, 3600)
_LATENESS_BUCKETS_S = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_GAP_BUCKETS_S = (0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300)
RECENT_FRESHNESS_WINDOW_S = 300.0
"""How far back ``feeder_event_freshness_recent_seconds`` (and ``feeder status``) looks."""
RECENT_QUANTILES = (0.5, 0.99)


def customer_had_left(snapshot: SessionSnapshot, published_at: datetime) -> bool:
    """Whether the session shows the customer gone (an exit at or after the last entry) before
    ``published_at``: an alert published then came too late to stop anyone at the door."""
    exited = snapshot.customer_last_exited_at
    entered = snapshot.customer_last_entered_at
    return exited is not None and (entered is None or exited >= entered) and exited < published_at


def _count_by_labels(counter: Counter, label_sets: Iterable[tuple[str, ...]]) -> None:
    """Add to ``counter`` once per distinct label set in ``label_sets``, by how often it came."""
    for labels, count in collections.Counter(label_sets).items():
        counter.labels(*labels).inc(count)


class RecentFreshness(Collector):
    """``feeder_event_freshness_recent_seconds{type,quantile}``: freshness quantiles of the last
    ``RECENT_FRESHNESS_WINDOW_S``, per event type that had events in it."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._by_type: dict[str, RecentHistogram] = {}

    def observe(self, event_type: EventType, freshness_s: float) -> None:
        histogram = self._by_type.get(event_type.value)
        if histogram is None:
            histogram = self._by_type[event_type.value] = RecentHistogram(
                _FRESHNESS_BUCKETS_S,
                window_s=RECENT_FRESHNESS_WINDOW_S,
                slots=30,
                clock_s=lambda: self._clock().timestamp(),
            )
        histogram.observe(freshness_s)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "feeder_event_freshness_recent_seconds",
            f"freshness quantiles over the last {RECENT_FRESHNESS_WINDOW_S:.0f} s, by event type "
            "(for feeder status; dashboards use feeder_event_freshness_seconds)",
            labels=["type", "quantile"],
        )
        for event_type, histogram in sorted(self._by_type.items()):
            for q in RECENT_QUANTILES:
                value = histogram.quantile(q)
                if value is not None:
                    family.add_metric([event_type, str(q)], value)
        yield family


class FeederMetrics:
    """Every metric feeder exports, registered on one registry.

    Implements the source's ``ApiObserver``, the sweeper's ``SweepObserver`` and the loops'
    ``LoopObserver``.
    """

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], datetime]) -> None:
        self.registry = registry
        self._clock = clock
        info = Info("feeder_build", "feeder version", registry=registry)
        info.info({"version": __version__})
        self.api_requests = Counter(
            "feeder_api_requests",
            "HTTP attempts against the sessions API",
            ["outcome", "status"],
            registry=registry,
        )
        self.api_request_duration = Histogram(
            "feeder_api_request_duration_seconds",
            "duration of one HTTP attempt",
            ["outcome"],
            buckets=_LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.api_retries = Counter(
            "feeder_api_retries",
            "attempts retried after a backoff",
            ["reason"],
            registry=registry,
        )
        self.api_token_refreshes = Counter(
            "feeder_api_token_refreshes",
            "bearer tokens (re)loaded",
            ["source", "outcome"],
            registry=registry,
        )
        self.api_malformed_bodies = Counter(
            "feeder_api_malformed_bodies",
            "2xx bodies that were not a page",
            ["problem"],
            registry=registry,
        )
        self.records_fetched = Counter(
            "feeder_records_fetched", "session records received", ["sweep"], registry=registry
        )
        self.records_duplicate = Counter(
            "feeder_records_duplicate",
            "records skipped: (id, updatedAt) already seen",
            ["sweep"],
            registry=registry,
        )
        self.records_replayed = Counter(
            "feeder_records_replayed",
            "records skipped: an older version applied before, served again",
            ["sweep"],
            registry=registry,
        )
        self.records_regressed = Counter(
            "feeder_records_regressed",
            "new versions whose updatedAt is older than one applied before (applied)",
            registry=registry,
        )
        self.records_late = Counter(
            "feeder_records_late",
            "new versions the live pass missed (visible late), by the pass that found them",
            ["sweep"],
            registry=registry,
        )
        self.record_lateness = Histogram(
            "feeder_record_lateness_seconds",
            "first seen minus updatedAt of each new version, by the pass that found it",
            ["sweep"],
            buckets=_LATENESS_BUCKETS_S,
            registry=registry,
        )
        self.order_violations = Counter(
            "feeder_api_order_violations",
            "records the API returned out of updatedAt order",
            registry=registry,
        )
        self.events_published = Counter(
            "feeder_events_published",
            "change events acknowledged by Kafka",
            ["type", "topic"],
            registry=registry,
        )
        self.kafka_records = Counter(
            "feeder_kafka_records_published",
            "Kafka records acknowledged",
            ["topic"],
            registry=registry,
        )
        self.publish_errors = Counter(
            "feeder_publish_errors", "pages Kafka did not acknowledge in time", registry=registry
        )
        self.dead_letters = Counter(
            "feeder_dead_letters",
            "malformed records sent to the dead-letter topic",
            ["field"],
            registry=registry,
        )
        self.oversized_records = Counter(
            "feeder_oversized_records",
            "records over FEEDER_KAFKA__MAX_RECORD_BYTES, dead-lettered as a stand-in",
            ["topic"],
            registry=registry,
        )
        self.checkpoint_commit_duration = Histogram(
            "feeder_checkpoint_commit_duration_seconds",
            "duration of one checkpoint commit",
            buckets=_LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.freshness = Histogram(
            "feeder_event_freshness_seconds",
            "Kafka acknowledgement time minus the change's own timestamp",
            ["type"],
            buckets=_FRESHNESS_BUCKETS_S,
            registry=registry,
        )
        self.recent_freshness = RecentFreshness(clock)
        registry.register(self.recent_freshness)
        self.fraud_flags_after_exit = Counter(
            "feeder_fraud_flags_after_exit",
            "suspectedFraud flags (turned true) Kafka acknowledged after the customer had left",
            registry=registry,
        )
        self.watermark = Gauge(
            "feeder_watermark_timestamp_seconds",
            "live: when the last complete live read began; re-read passes: their cursor",
            ["sweep"],
            registry=registry,
        )
        self.watermark_lag = Gauge(
            "feeder_watermark_lag_seconds",
            "now minus the watermark",
            ["sweep"],
            registry=registry,
        )
        self.read_duration = Histogram(
            "feeder_read_duration_seconds",
            "one complete read of a pass (live: the newest records; re-reads: their window)",
            ["sweep"],
            buckets=_LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.live_read_gap = Histogram(
            "feeder_live_read_gap_seconds",
            "from the start of one complete live read to the end of the next: the longest a "
            "version could stay visible and unread (freshness is bounded by it)",
            buckets=_GAP_BUCKETS_S,
            registry=registry,
        )
        self.reread_behind = Gauge(
            "feeder_reread_behind_seconds",
            "how far a re-read pass trails its schedule (now - delay); grows when the request "
            "budget is short",
            ["sweep"],
            registry=registry,
        )
        self.reread_skipped = Counter(
            "feeder_reread_skipped_seconds",
            "seconds of updatedAt a lagging re-read pass left to the next longer pass",
            ["sweep"],
            registry=registry,
        )
        self.reread_deferred = Counter(
            "feeder_reread_deferred",
            "due re-reads a tick had no time left for (the request budget went to live first)",
            ["sweep"],
            registry=registry,
        )
        self.last_sweep = Gauge(
            "feeder_last_successful_sweep_timestamp_seconds",
            "when a sweep last caught up",
            ["sweep"],
            registry=registry,
        )
        self.sweep_failures = Counter(
            "feeder_sweep_failures",
            "sweeps abandoned after a transient fault",
            ["error"],
            registry=registry,
        )
        self.tombstones = Counter(
            "feeder_tombstones_published",
            "tombstones acknowledged on the state topic for sessions pruned from the store",
            registry=registry,
        )
        self.prune_failures = Counter(
            "feeder_prune_failures",
            "pruning rounds abandoned after a transient fault (retried next round)",
            ["error"],
            registry=registry,
        )
        self.heartbeats = Counter(
            "feeder_heartbeats_published",
            "heartbeats acknowledged on the heartbeat topic",
            registry=registry,
        )
        self.heartbeat_failures = Counter(
            "feeder_heartbeat_failures",
            "heartbeats Kafka did not acknowledge (the next one is tried on schedule)",
            ["error"],
            registry=registry,
        )
        self.tracked_sessions = Gauge(
            "feeder_checkpoint_tracked_sessions",
            "sessions in the checkpoint store",
            registry=registry,
        )
        self.store_bytes = Gauge(
            "feeder_checkpoint_size_bytes", "checkpoint store size on disk", registry=registry
        )
        self.rebuild_records_read = Gauge(
            "feeder_checkpoint_rebuild_records_read",
            "records of the Kafka checkpoint topic read by the rebuild (or catch-up) under way "
            "or last finished",
            registry=registry,
        )
        self.rebuild_records_total = Gauge(
            "feeder_checkpoint_rebuild_records_total",
            "records the rebuild (or catch-up) under way or last finished has to read",
            registry=registry,
        )
        self.rebuild_duration = Gauge(
            "feeder_checkpoint_rebuild_duration_seconds",
            "how long the last finished rebuild (or catch-up) of the Kafka checkpoint took",
            registry=registry,
        )
        self.rebuilding = Gauge(
            "feeder_checkpoint_rebuilding",
            "1 while the Kafka checkpoint store reads its topic (the feed waits for it)",
            registry=registry,
        )
        self.publish_healthy = True
        self.last_live_sweep_at: datetime | None = None
        self._watermarks: dict[str, float] = {}
        self._previous_live_start: datetime | None = None

    def _lag_function(self, pass_name: str) -> Callable[[], float]:
        def lag() -> float:
            watermark = self._watermarks.get(pass_name)
            return 0.0 if watermark is None else self._clock().timestamp() - watermark

        return lag

    def _set_watermark(self, pass_name: str, moment: datetime) -> None:
        if pass_name not in self._watermarks:
            self.watermark_lag.labels(pass_name).set_function(self._lag_function(pass_name))
        self._watermarks[pass_name] = moment.timestamp()
        self.watermark.labels(pass_name).set(moment.timestamp())

    # ApiObserver
    def on_attempt(self, outcome: AttemptOutcome, status: str, duration_s: float) -> None:
        self.api_requests.labels(outcome, status).inc()
        self.api_request_duration.labels(outcome).observe(duration_s)

    def on_retry(self, reason: RetryReason, delay_s: float) -> None:
        self.api_retries.labels(reason).inc()

    def on_token_refresh(self, source: TokenSource, outcome: TokenRefreshOutcome) -> None:
        self.api_token_refreshes.labels(source, outcome).inc()

    def on_malformed_body(self, problem: MalformedBodyProblem) -> None:
        self.api_malformed_bodies.labels(problem).inc()

    # SweepObserver
    def page_written(
        self,
        pass_name: str,
        plan: PagePlan,
        records: Sequence[OutgoingRecord],
        *,
        commit_s: float,
        acked_at: datetime,
    ) -> None:
        self.publish_healthy = True
        self.records_fetched.labels(pass_name).inc(plan.sessions_read)
        self.records_duplicate.labels(pass_name).inc(plan.duplicates)
        self.records_replayed.labels(pass_name).inc(len(plan.replayed))
        self.records_regressed.inc(plan.regressed)
        self.order_violations.inc(plan.order_violations)
        lateness = self.record_lateness.labels(pass_name)
        for age_s in plan.new_version_ages_s:
            lateness.observe(age_s)
        if pass_name not in (PassName.LIVE, PassName.BACKFILL):
            self.records_late.labels(pass_name).inc(len(plan.new_version_ages_s))
        # Counted per page, then one inc per label set: a label lookup takes a lock and costs
        # more than the count (bench/profile.py live: 7 % of the feeder's CPU when per record).
        _count_by_labels(self.dead_letters, ((d.field or "record",) for d in plan.dead_letters))
        _count_by_labels(self.kafka_records, ((record.topic,) for record in records))
        _count_by_labels(
            self.oversized_records,
            ((r.oversized_from,) for r in records if r.oversized_from is not None),
        )
        _count_by_labels(
            self.events_published,
            ((r.event_type.value, r.topic) for r in records if r.event_type is not None),
        )
        histograms: dict[EventType, Histogram] = {}
        for event in plan.events:
            freshness_s = max(0.0, (acked_at - event.time).total_seconds())
            histogram = histograms.get(event.type)
            if histogram is None:
                histogram = histograms[event.type] = self.freshness.labels(event.type.value)
            histogram.observe(freshness_s)
            self.recent_freshness.observe(event.type, freshness_s)
        self._count_late_fraud_flags(plan, acked_at)
        self.checkpoint_commit_duration.observe(commit_s)

    def _count_late_fraud_flags(self, plan: PagePlan, acked_at: datetime) -> None:
        flags: list[ChangeEvent] = [
            event
            for event in plan.events
            if event.type is EventType.SUSPECTED_FRAUD_CHANGED and event.change.new is True
        ]
        if not flags:
            return
        # An event carries the raw record of the snapshot it came from.
        snapshots = {id(snapshot.raw): snapshot for snapshot in plan.fresh}
        for event in flags:
            snapshot = snapshots.get(id(event.session))
            if snapshot is not None and customer_had_left(snapshot, acked_at):
                self.fraud_flags_after_exit.inc()

    def read_finished(self, pass_name: str, started_at: datetime, now: datetime) -> None:
        self.read_duration.labels(pass_name).observe((now - started_at).total_seconds())
        self.last_sweep.labels(pass_name).set(now.timestamp())
        if pass_name == PassName.LIVE:
            self.last_live_sweep_at = now
            if self._previous_live_start is not None:
                self.live_read_gap.observe((now - self._previous_live_start).total_seconds())
            self._previous_live_start = started_at

    def tick_finished(self, report: PassReport) -> None:
        if report.live_read_at is not None:
            self._set_watermark(PassName.LIVE, report.live_read_at)
        for delay_s, cursor in report.position.rereads:
            self._set_watermark(reread_name(delay_s), cursor)
        for pass_name, behind_s in report.behind_s.items():
            self.reread_behind.labels(pass_name).set(behind_s)
        for pass_name, skipped_s in report.skipped_s.items():
            self.reread_skipped.labels(pass_name).inc(skipped_s)
        for pass_name in report.deferred:
            self.reread_deferred.labels(pass_name).inc()

    # LoopObserver
    def sweep_failed(self, error: RetriableError) -> None:
        self.sweep_failures.labels(type(error).__name__).inc()
        if isinstance(error, SinkUnavailableError):
            self.publish_errors.inc()
            self.publish_healthy = False

    def store_measured(self, size: StoreSize) -> None:
        self.tracked_sessions.set(size.tracked_sessions)
        self.store_bytes.set(size.bytes_on_disk)

    def rebuild_progressed(self, progress: RebuildProgress) -> None:
        self.rebuild_records_read.set(progress.records_read)
        self.rebuild_records_total.set(progress.records_total)
        self.rebuilding.set(0 if progress.done else 1)
        if progress.done:
            self.rebuild_duration.set(progress.elapsed_s)

    def tombstones_published(self, topic: str, count: int) -> None:
        self.tombstones.inc(count)
        self.kafka_records.labels(topic).inc(count)

    def prune_failed(self, error: RetriableError) -> None:
        self.prune_failures.labels(type(error).__name__).inc()

    def heartbeat_published(self, records: Sequence[OutgoingRecord]) -> None:
        self.heartbeats.inc()
        for record in records:
            self.kafka_records.labels(record.topic).inc()

    def heartbeat_failed(self, error: RetriableError) -> None:
        self.heartbeat_failures.labels(type(error).__name__).inc()
