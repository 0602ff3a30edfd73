"""``feeder status``: where a feed stands, from its checkpoint file and/or its metrics endpoint.

The checkpoint gives the committed watermarks and the tracked sessions even while feeder is
stopped; the metrics endpoint gives what the running process sees (lag, last sweep, readiness,
counters). Nothing is written anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from feeder.commands.formatting import format_duration
from feeder.commands.settings_loading import validation_problems
from feeder.commands.status_sources import (
    CheckpointStatus,
    MetricsStatus,
    read_checkpoint,
    read_metrics,
)
from feeder.core.timestamps import format_timestamp
from feeder.errors import ConfigError
from feeder.observability.metrics import RECENT_FRESHNESS_WINDOW_S
from feeder.settings import CheckpointSettings, KafkaSettings, PartialEnvSettings
from feeder.typing import Clock


class _StatusSettings(PartialEnvSettings):
    """The groups status needs, without requiring API credentials."""

    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="SQLite checkpoint file, opened read-only (default: FEEDER_CHECKPOINT__PATH); "
        "read unless only --metrics-url is given",
    )
    parser.add_argument(
        "--metrics-url", help="a running feeder's metrics, e.g. http://127.0.0.1:9464/metrics"
    )
    parser.add_argument("--timeout-s", type=float, default=5.0, help="HTTP deadline (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def _moment(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def _age_s(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else round((now - moment).total_seconds(), 3)


def checkpoint_document(status: CheckpointStatus, now: datetime) -> dict[str, Any]:
    return {
        "path": str(status.path),
        "bytes_on_disk": status.bytes_on_disk,
        "committed": status.live is not None,
        "feed_start": _moment(status.feed_start),
        "live_cursor": _moment(status.live),
        "live_lag_s": _age_s(status.live, now),
        "reread_cursors": {
            name: {"cursor": _moment(cursor), "lag_s": _age_s(cursor, now)}
            for name, cursor in status.rereads.items()
        },
        "tracked_sessions": status.tracked_sessions,
        "flagged_sessions": status.flagged_sessions,
        "newest_updated_at": _moment(status.newest_updated_at),
    }


def metrics_document(status: MetricsStatus, now: datetime) -> dict[str, Any]:
    def stamp(seconds: float) -> str:
        return format_timestamp(datetime.fromtimestamp(seconds, UTC))

    sweeps = sorted(
        set(status.watermark_s) | set(status.lag_s) | set(status.last_sweep_s),
        key=_pass_order,
    )
    return {
        "url": status.url,
        "version": status.version,
        "ready": status.ready,
        "ready_reason": status.ready_reason,
        "sweeps": {
            sweep: {
                "watermark": stamp(status.watermark_s[sweep])
                if sweep in status.watermark_s
                else None,
                "lag_s": status.lag_s.get(sweep),
                "last_successful_sweep": stamp(status.last_sweep_s[sweep])
                if sweep in status.last_sweep_s
                else None,
                "last_successful_sweep_age_s": round(
                    now.timestamp() - status.last_sweep_s[sweep], 3
                )
                if sweep in status.last_sweep_s
                else None,
                "behind_schedule_s": status.behind_s.get(sweep),
                "deferred_reads": status.deferred.get(sweep),
            }
            for sweep in sweeps
        },
        "tracked_sessions": status.tracked_sessions,
        "events_published_by_type": status.events_by_type,
        "api_requests_by_outcome": status.requests_by_outcome,
        "dead_letters": status.dead_letters,
        "publish_errors": status.publish_errors,
        "sweep_failures": status.sweep_failures,
        "replica_feeds": {name: sorted(feeds) for name, feeds in status.replica_feeds.items()},
        "recent_freshness_window_s": RECENT_FRESHNESS_WINDOW_S,
        "recent_freshness_s": {
            event_type: {f"p{float(q) * 100:g}": seconds for q, seconds in quantiles.items()}
            for event_type, quantiles in sorted(status.recent_freshness_s.items())
        },
    }


def _pass_order(sweep: str) -> tuple[float, str]:
    """live first, then re-read passes by delay, then anything else."""
    if sweep == "live":
        return (-1.0, sweep)
    if sweep.startswith("reread_") and sweep.endswith("s"):
        try:
            return (float(sweep[len("reread_") : -1]), sweep)
        except ValueError:
            pass
    return (float("inf"), sweep)


def render_text(document: dict[str, Any]) -> str:
    lines: list[str] = []
    checkpoint = document.get("checkpoint")
    if checkpoint is not None:
        lines.append(f"checkpoint {checkpoint['path']} ({checkpoint['bytes_on_disk']} bytes)")
        if not checkpoint["committed"]:
            lines.append("  no page committed yet: the feed starts at FEEDER_SWEEP__START_POSITION")
        else:
            lines += [
                f"  feed start          {checkpoint['feed_start']}",
                f"  live cursor         {checkpoint['live_cursor']}  "
                f"(lag {format_duration(checkpoint['live_lag_s'])})",
            ]
            lines += [
                f"  {name + ' cursor':<19} {numbers['cursor']}  "
                f"(lag {format_duration(numbers['lag_s'])})"
                for name, numbers in checkpoint["reread_cursors"].items()
            ]
        lines += [
            f"  tracked sessions    {checkpoint['tracked_sessions']} "
            f"({checkpoint['flagged_sessions']} flagged as suspected fraud)",
            f"  newest updatedAt    {checkpoint['newest_updated_at'] or '-'}",
        ]
    metrics = document.get("metrics")
    if metrics is not None:
        ready = "ready" if metrics["ready"] else "NOT READY"
        lines.append(
            f"metrics {metrics['url']} (feeder {metrics['version'] or '?'}): {ready}"
            f" - {metrics['ready_reason']}"
        )
        for replica, feeds in metrics["replica_feeds"].items():
            lines.append(f"  replica {replica} runs {', '.join(feeds) or 'no feed (standby)'}")
        for sweep, numbers in metrics["sweeps"].items():
            behind = numbers["behind_schedule_s"]
            budget = (
                ""
                if not behind
                else f"  BEHIND SCHEDULE {format_duration(behind)} "
                f"({int(numbers['deferred_reads'] or 0)} reads deferred: request budget short)"
            )
            lines.append(
                f"  {sweep:<12} watermark {numbers['watermark'] or '-'}  "
                f"lag {format_duration(numbers['lag_s'])}  "
                f"last read {format_duration(numbers['last_successful_sweep_age_s'])} ago{budget}"
            )
        tracked = metrics["tracked_sessions"]
        lines.append(f"  tracked sessions {'-' if tracked is None else int(tracked)}")
        events = ", ".join(
            f"{name} {int(count)}"
            for name, count in sorted(metrics["events_published_by_type"].items())
        )
        lines.append(f"  events published {events or 'none yet'}")
        requests = ", ".join(
            f"{name} {int(count)}"
            for name, count in sorted(metrics["api_requests_by_outcome"].items())
        )
        lines.append(f"  API attempts     {requests or 'none yet'}")
        lines.append(
            f"  dead letters {int(metrics['dead_letters'])}, publish errors "
            f"{int(metrics['publish_errors'])}, failed sweeps {int(metrics['sweep_failures'])}"
        )
        window = format_duration(metrics["recent_freshness_window_s"])
        recent = metrics["recent_freshness_s"]
        lines.append(f"  freshness over the last {window}{'' if recent else ': no events'}")
        lines.extend(
            f"    {event_type:<34}"
            + "  ".join(f"{name} {format_duration(seconds)}" for name, seconds in quantiles.items())
            for event_type, quantiles in recent.items()
        )
    return "\n".join(lines)


def collect(args: argparse.Namespace, now: datetime) -> tuple[dict[str, Any], list[str]]:
    """The status document and the problems met while reading it."""
    settings = _StatusSettings()
    document: dict[str, Any] = {"now": format_timestamp(now)}
    problems: list[str] = []
    if args.checkpoint is not None or args.metrics_url is None:
        try:
            checkpoint = read_checkpoint(args.checkpoint or settings.checkpoint.path)
            document["checkpoint"] = checkpoint_document(checkpoint, now)
        except ConfigError as exc:
            problems.append(str(exc))
    if args.metrics_url is not None:
        try:
            metrics = read_metrics(args.metrics_url, settings.kafka.topics.events, args.timeout_s)
            document["metrics"] = metrics_document(metrics, now)
        except ConfigError as exc:
            problems.append(str(exc))
    return document, problems


def run(args: argparse.Namespace, clock: Clock | None = None) -> int:
    now = (clock or (lambda: datetime.now(UTC)))()
    try:
        document, problems = collect(args, now)
    except ValidationError as exc:
        print("error: invalid settings:", file=sys.stderr)
        for line in validation_problems(exc):
            print(f"  {line}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({**document, "problems": problems}, indent=2))
    else:
        text = render_text(document)
        if text:
            print(text)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0
