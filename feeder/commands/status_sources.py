"""Where ``feeder status`` reads from: the SQLite checkpoint file (read-only) or ``/metrics``.

The checkpoint is read through the store's read-only view
(``feeder.checkpoint.sqlite.read_only_view``): nothing is written to it, and a running feeder is
not disturbed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from feeder.checkpoint.sqlite_file import BEFORE_REREAD_PASSES_DELAY_S, read_only_view
from feeder.core.state import FeedPosition, reread_name
from feeder.errors import ConfigError


@dataclass(frozen=True, slots=True)
class CheckpointStatus:
    path: Path
    bytes_on_disk: int
    feed_start: datetime | None  # None: the feed never committed a page
    live: datetime | None
    rereads: dict[str, datetime]  # re-read pass name -> cursor
    tracked_sessions: int
    flagged_sessions: int
    newest_updated_at: datetime | None


def read_checkpoint(path: Path) -> CheckpointStatus:
    """Read the position and the session counts; raise ``ConfigError`` if it cannot."""
    position, description = read_only_view(path)
    return CheckpointStatus(
        path=path,
        bytes_on_disk=description.bytes_on_disk,
        feed_start=None if position is None else position.feed_start,
        live=None if position is None else position.live,
        rereads=_reread_cursors(position),
        tracked_sessions=description.tracked_sessions,
        flagged_sessions=description.flagged_sessions,
        newest_updated_at=description.newest_updated_at,
    )


def _reread_cursors(position: FeedPosition | None) -> dict[str, datetime]:
    """Each re-read pass's cursor; a checkpoint from before re-read passes has one trailing
    cursor, shown as ``trailing``."""
    if position is None:
        return {}
    if [delay_s for delay_s, _ in position.rereads] == [BEFORE_REREAD_PASSES_DELAY_S]:
        return {"trailing": position.rereads[0][1]}
    return {reread_name(delay_s): cursor for delay_s, cursor in position.rereads}


@dataclass(slots=True)
class MetricsStatus:
    url: str
    version: str | None = None
    ready: bool | None = None
    ready_reason: str | None = None
    watermark_s: dict[str, float] = field(default_factory=dict)  # by sweep
    lag_s: dict[str, float] = field(default_factory=dict)
    last_sweep_s: dict[str, float] = field(default_factory=dict)
    behind_s: dict[str, float] = field(default_factory=dict)
    deferred: dict[str, float] = field(default_factory=dict)
    tracked_sessions: float | None = None
    events_by_type: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    requests_by_outcome: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    dead_letters: float = 0.0
    publish_errors: float = 0.0
    sweep_failures: float = 0.0
    # event type -> quantile ("0.5", "0.99") -> seconds, over the process's recent window
    recent_freshness_s: dict[str, dict[str, float]] = field(default_factory=dict)
    # a replica (replicas.enabled): its name -> the feeds it runs now
    replica_feeds: dict[str, list[str]] = field(default_factory=dict)


_BY_SWEEP = {
    "feeder_watermark_timestamp_seconds": "watermark_s",
    "feeder_watermark_lag_seconds": "lag_s",
    "feeder_last_successful_sweep_timestamp_seconds": "last_sweep_s",
    "feeder_reread_behind_seconds": "behind_s",
    "feeder_reread_deferred_total": "deferred",
}
_SUMMED = {
    "feeder_dead_letters_total": "dead_letters",
    "feeder_publish_errors_total": "publish_errors",
    "feeder_sweep_failures_total": "sweep_failures",
}


def parse_metrics(url: str, exposition: str, events_topic: str) -> MetricsStatus:
    """The numbers status shows, from a Prometheus text exposition of feeder's metrics.

    Events are counted on ``events_topic`` only: fraud events are also on the fraud topic.
    """
    status = MetricsStatus(url)
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name in _BY_SWEEP:
                getattr(status, _BY_SWEEP[name])[labels.get("sweep", "")] = value
            elif name in _SUMMED:
                setattr(status, _SUMMED[name], getattr(status, _SUMMED[name]) + value)
            elif name == "feeder_build_info":
                status.version = labels.get("version")
            elif name == "feeder_checkpoint_tracked_sessions":
                status.tracked_sessions = value
            elif name == "feeder_events_published_total" and labels["topic"] == events_topic:
                status.events_by_type[labels["type"]] += value
            elif name == "feeder_api_requests_total":
                status.requests_by_outcome[labels["outcome"]] += value
            elif name == "feeder_replica_feed_running":
                feeds = status.replica_feeds.setdefault(labels["replica"], [])
                if value == 1:
                    feeds.append(labels["feed"])
            elif name == "feeder_event_freshness_recent_seconds":
                status.recent_freshness_s.setdefault(labels["type"], {})[labels["quantile"]] = value
    status.events_by_type = dict(status.events_by_type)
    status.requests_by_outcome = dict(status.requests_by_outcome)
    return status


def read_metrics(url: str, events_topic: str, timeout_s: float) -> MetricsStatus:
    """Scrape ``url`` (feeder's /metrics) and ask its /readyz; raise ``ConfigError`` if down."""
    try:
        with httpx.Client(timeout=timeout_s) as client:
            response = client.get(url)
            response.raise_for_status()
            status = parse_metrics(url, response.text, events_topic)
            ready = client.get(httpx.URL(url).copy_with(path="/readyz"))
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot read metrics from {url}: {exc}") from exc
    status.ready = ready.status_code == 200
    status.ready_reason = ready.text.strip()
    return status
