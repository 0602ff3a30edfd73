"""Prometheus metrics (names in base units, prefix ``feeder_``, no unbounded labels)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from feeder import __version__
from feeder.checkpoint import StoreSize
from feeder.core.diff import EventType
from feeder.core.events import ChangeEvent
from feeder.core.page_plan import PagePlan
from feeder.core.records import OutgoingRecord
from feeder.core.snapshot import SessionSnapshot
from feeder.core.state import FeedPosition
from feeder.errors import RetriableError, SinkUnavailableError
from feeder.observability.recent_histogram import RecentHistogram
from feeder.source.observer import (
    AttemptOutcome,
    RetryReason,
    TokenRefreshOutcome,
    TokenSource,
)
from feeder.source.page import MalformedBodyProblem
from feeder.sweeper import SweepKind

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_FRESHNESS_BUCKETS_S = (0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300, 900, 3600)
_LATENESS_BUCKETS_S = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RECENT_FRESHNESS_WINDOW_S = 300.0
"""How far back ``feeder_event_freshness_recent_seconds`` (and ``feeder status``) looks."""
RECENT_QUANTILES = (0.5, 0.99)


def customer_had_left(snapshot: SessionSnapshot, published_at: datetime) -> bool:
    """Whether the session shows the customer gone (an exit at or after the last entry) before
    ``published_at``: an alert published then came too late to stop anyone at the door."""
    exited = snapshot.customer_last_exited_at
    entered = snapshot.customer_last_entered_at
    return exited is not None and (entered is None or exited >= entered) and exited < published_at


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
        self.records_stale = Counter(
            "feeder_records_stale",
            "records skipped: older than the known state",
            ["sweep"],
            registry=registry,
        )
        self.records_late = Counter(
            "feeder_records_late",
            "records the live sweep missed (visible late)",
            registry=registry,
        )
        self.record_lateness = Histogram(
            "feeder_record_lateness_seconds",
            "age of a late record when it was found",
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
            "feed position (Unix time)",
            ["sweep"],
            registry=registry,
        )
        self.watermark_lag = Gauge(
            "feeder_watermark_lag_seconds",
            "now minus the feed position",
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
        self.tracked_sessions = Gauge(
            "feeder_checkpoint_tracked_sessions",
            "sessions in the checkpoint store",
            registry=registry,
        )
        self.store_bytes = Gauge(
            "feeder_checkpoint_size_bytes", "checkpoint store size on disk", registry=registry
        )
        self.publish_healthy = True
        self.last_live_sweep_at: datetime | None = None
        self._positions: dict[SweepKind, float] = {}
        for kind in SweepKind:
            self.watermark_lag.labels(kind.value).set_function(self._lag_function(kind))

    def _lag_function(self, kind: SweepKind) -> Callable[[], float]:
        def lag() -> float:
            position = self._positions.get(kind)
            return 0.0 if position is None else self._clock().timestamp() - position

        return lag

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
        kind: SweepKind,
        plan: PagePlan,
        records: Sequence[OutgoingRecord],
        *,
        commit_s: float,
        acked_at: datetime,
    ) -> None:
        sweep = kind.value
        self.publish_healthy = True
        self.records_fetched.labels(sweep).inc(
            len(plan.fresh) + plan.duplicates + plan.stale + len(plan.dead_letters)
        )
        self.records_duplicate.labels(sweep).inc(plan.duplicates)
        self.records_stale.labels(sweep).inc(plan.stale)
        self.order_violations.inc(plan.order_violations)
        for age_s in plan.late_ages_s:
            self.records_late.inc()
            self.record_lateness.observe(age_s)
        for letter in plan.dead_letters:
            self.dead_letters.labels(letter.field or "record").inc()
        for record in records:
            self.kafka_records.labels(record.topic).inc()
            if record.oversized_from is not None:
                self.oversized_records.labels(record.oversized_from).inc()
            if record.event_type is not None:
                self.events_published.labels(record.event_type.value, record.topic).inc()
        for event in plan.events:
            freshness_s = max(0.0, (acked_at - event.time).total_seconds())
            self.freshness.labels(event.type.value).observe(freshness_s)
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

    def sweep_finished(self, kind: SweepKind, position: FeedPosition, now: datetime) -> None:
        reached = position.trailing if kind is SweepKind.TRAILING else position.live
        self._positions[kind] = reached.timestamp()
        self.watermark.labels(kind.value).set(reached.timestamp())
        self.last_sweep.labels(kind.value).set(now.timestamp())
        if kind is SweepKind.LIVE:
            self.last_live_sweep_at = now

    # LoopObserver
    def sweep_failed(self, error: RetriableError) -> None:
        self.sweep_failures.labels(type(error).__name__).inc()
        if isinstance(error, SinkUnavailableError):
            self.publish_errors.inc()
            self.publish_healthy = False

    def store_measured(self, size: StoreSize) -> None:
        self.tracked_sessions.set(size.tracked_sessions)
        self.store_bytes.set(size.bytes_on_disk)
