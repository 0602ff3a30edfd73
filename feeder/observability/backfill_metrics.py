"""A backfill's progress as Prometheus metrics, read from its progress at scrape time."""

from __future__ import annotations

import contextlib
import math
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from feeder.observability.http_server import metrics_app, serving


class BackfillProgressView(Protocol):
    """What the collector reads of a backfill's progress (``BackfillProgress``)."""

    @property
    def records(self) -> int: ...

    @property
    def events(self) -> int: ...

    @property
    def dead_letters(self) -> int: ...

    @property
    def done(self) -> float: ...

    @property
    def records_per_s(self) -> float: ...

    @property
    def eta_s(self) -> float | None: ...

    @property
    def slices_done(self) -> int: ...

    @property
    def slices_total(self) -> int: ...


class BackfillCollector(Collector):
    """``feeder_backfill_*``: the numbers of the progress line, as they are at each scrape.

    The progress keeps the only counts; this reads them, so /metrics and the line never
    disagree. ``feeder_backfill_eta_seconds`` is NaN while the time left is unknown.
    """

    def __init__(self, progress: BackfillProgressView) -> None:
        self._progress = progress

    def collect(self) -> Iterator[Metric]:
        progress = self._progress
        yield CounterMetricFamily(
            "feeder_backfill_records",
            "Records read by this backfill run",
            value=progress.records,
        )
        yield CounterMetricFamily(
            "feeder_backfill_events",
            "Events this backfill run published",
            value=progress.events,
        )
        yield CounterMetricFamily(
            "feeder_backfill_dead_letters",
            "Malformed records this backfill run dead-lettered",
            value=progress.dead_letters,
        )
        yield GaugeMetricFamily(
            "feeder_backfill_done_ratio",
            "Share of the window's span swept (0..1)",
            value=progress.done,
        )
        yield GaugeMetricFamily(
            "feeder_backfill_records_per_second",
            "Records read per second since this run began",
            value=progress.records_per_s,
        )
        eta_s = progress.eta_s
        yield GaugeMetricFamily(
            "feeder_backfill_eta_seconds",
            "Seconds left at the pace of this run (NaN while unknown)",
            value=math.nan if eta_s is None else eta_s,
        )
        slices = GaugeMetricFamily(
            "feeder_backfill_slices", "Slices of the window, done and total", labels=["state"]
        )
        slices.add_metric(["done"], progress.slices_done)
        slices.add_metric(["total"], progress.slices_total)
        yield slices


def backfill_registry(progress: BackfillProgressView) -> CollectorRegistry:
    """A registry of its own (not the live feed's) holding only :class:`BackfillCollector`."""
    registry = CollectorRegistry()
    registry.register(BackfillCollector(progress))
    return registry


@contextlib.asynccontextmanager
async def backfill_metrics_served(
    progress: BackfillProgressView, listener: socket.socket
) -> AsyncIterator[None]:
    """Serve ``/metrics`` of ``progress``, ``/healthz`` and ``/readyz`` on ``listener`` while
    the block runs (ready throughout); the server stops when the block ends, however it ends."""
    app = metrics_app(backfill_registry(progress), lambda: (True, "backfilling"))
    async with serving(app, listener):
        yield
