"""``feeder verify --from T1 --to T2``: is this window of the feed complete?

Re-reads the window from the API, derives the facts the API shows now, reads the events topic
back and reports per event type what is missing, wrong, duplicated or too old to check. The
rule it follows (it claims only what a poller can know) is in :mod:`feeder.audit`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from feeder.audit.compare import AuditReport, Finding, TypeCounts, audit
from feeder.commands.arguments import timestamp
from feeder.commands.formatting import format_duration
from feeder.commands.settings_loading import load_or_explain
from feeder.commands.verify_sources import EventTopic, TopicRead, WindowRead, read_window
from feeder.core.timestamps import format_timestamp
from feeder.errors import FeederError
from feeder.observability.logs import configure_logging
from feeder.settings import FeederSettings
from feeder.source import SessionsApiClient

EXIT_COMPLETE, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3
_SHOWN_FINDINGS = 20

EPILOG = """\
What it claims: only what a poller can know. The API shows each session's latest state, not its
history, so for every session whose latest updatedAt is in the window, verify expects
  - session.created / entered / exited / code_scanned: an event with exactly the session's
    createdAt and latest customerLastEnteredAt / customerLastExitedAt /
    codeLastSuccesfullyScannedAt, when at or after --from (earlier entries cannot be checked;
    an event newer than what the API shows is wrong);
  - session.suspected_fraud_changed / status_changed: the session's last event of that type
    carries the current flag / status (a flag that is true must have one; a status other than
    active must have one if the session was created in the window).
Events older than --from are counted, not checked; events re-sent with the same id are counted
as duplicates. Choose --to behind the feed's live watermark (`feeder status`): later changes may
not be published yet.

exit status: 0 complete, 1 something missing or wrong, 2 bad arguments or settings,
3 the API or Kafka could not be read."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument(
        "--from", dest="start", type=timestamp, required=True, help="window start (ISO-8601)"
    )
    parser.add_argument(
        "--to", dest="end", type=timestamp, required=True, help="window end (ISO-8601)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--config", type=Path, help="TOML file of settings (env vars override)")


class VerifyProgress:
    """A progress line with rate and ETA on ``stream``, drawn only when it is a terminal."""

    def __init__(
        self,
        start: datetime,
        end: datetime,
        stream: TextIO,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self._start, self._end, self._stream = start, end, stream
        self._clock_s = clock_s
        self._began_s = clock_s()
        self._draw = stream.isatty()

    def _line(self, what: str, done: float, count: int, unit: str) -> None:
        elapsed_s = max(self._clock_s() - self._began_s, 1e-9)
        done = min(1.0, max(0.0, done))
        eta = format_duration(elapsed_s * (1 - done) / done) if done > 0 else "-"
        self._stream.write(
            f"\r{what} [{'#' * int(done * 30):<30}] {done:6.1%}  {count:,} {unit}  "
            f"{count / elapsed_s:,.0f}/s  ETA {eta}   "
        )
        self._stream.flush()

    def api_page(self, read: WindowRead) -> None:
        if not self._draw or not read.snapshots:
            return
        span_s = (self._end - self._start).total_seconds() or 1.0
        reached_s = (read.snapshots[-1].updated_at - self._start).total_seconds()
        self._line("API   ", reached_s / span_s, read.records, "records")

    def topic_read(self, read: TopicRead, total: int) -> None:
        if self._draw:
            self._line("events", read.records / (total or 1), read.records, "records")

    def phase_done(self) -> None:
        if self._draw:
            self._stream.write("\n")
        self._began_s = self._clock_s()


@dataclasses.dataclass(frozen=True, slots=True)
class Verification:
    report: AuditReport
    topic: str
    window: WindowRead
    events: TopicRead


async def verify(
    settings: FeederSettings, start: datetime, end: datetime, progress: VerifyProgress
) -> Verification:
    """Note the topic's end, read the API window, read the topic to that end, compare."""
    topic_name = settings.kafka.topics.events
    async with EventTopic.opened(settings.kafka, topic_name) as topic:
        async with SessionsApiClient(settings.api) as client:
            window = await read_window(
                client, start, end, page_size=settings.api.page_size, on_page=progress.api_page
            )
        progress.phase_done()
        total = topic.records_to_read
        events = await topic.read(lambda read: progress.topic_read(read, total))
        progress.phase_done()
    report = audit(window.snapshots, events.events, window_start=start, window_end=end)
    return Verification(report, topic_name, window, events)


def _totals(report: AuditReport) -> TypeCounts:
    rows = report.by_type.values()
    return TypeCounts(
        *(sum(getattr(row, name.name) for row in rows) for name in dataclasses.fields(TypeCounts))
    )


def document(verification: Verification) -> dict[str, Any]:
    report = verification.report
    return {
        "window": {
            "from": format_timestamp(report.window_start),
            "to": format_timestamp(report.window_end),
        },
        "complete": report.complete,
        "api": {
            "sessions": report.sessions,
            "records": verification.window.records,
            "unreadable_records": verification.window.unreadable,
            "pages": verification.window.pages,
        },
        "events_topic": {
            "topic": verification.topic,
            "records": verification.events.records,
            "unreadable_records": verification.events.unreadable,
        },
        "by_type": {name: dataclasses.asdict(row) for name, row in report.by_type.items()},
        "totals": dataclasses.asdict(_totals(report)),
        "missing": [dataclasses.asdict(finding) for finding in report.missing],
        "wrong": [dataclasses.asdict(finding) for finding in report.wrong],
    }


_COLUMNS = ("facts", "found", "missing", "wrong", "duplicates", "older")


def _finding_line(finding: Finding) -> str:
    published = (
        "no event"
        if finding.event_id is None
        else (f"last event says {json.dumps(finding.published)} (id {finding.event_id})")
    )
    return (
        f"  session {finding.session_id:<12} {finding.type:<34} "
        f"API {json.dumps(finding.api)}  {published}"
    )


def _findings(title: str, findings: list[Finding]) -> list[str]:
    if not findings:
        return [f"{title}: none"]
    lines = [f"{title} ({len(findings):,}):"]
    lines += [_finding_line(finding) for finding in findings[:_SHOWN_FINDINGS]]
    if len(findings) > _SHOWN_FINDINGS:
        lines.append(f"  … {len(findings) - _SHOWN_FINDINGS:,} more (--json lists them all)")
    return lines


def render_table(verification: Verification) -> str:
    report = verification.report
    window, events = verification.window, verification.events
    header = f"{'type':<34}" + "".join(f"{name:>12}" for name in _COLUMNS)
    rows = [
        f"{name:<34}" + "".join(f"{getattr(row, column):>12,}" for column in _COLUMNS)
        for name, row in [*report.by_type.items(), ("all", _totals(report))]
    ]
    missing, wrong = len(report.missing), len(report.wrong)
    verdict = (
        "COMPLETE: every fact the API shows has its event, and no event contradicts the API"
        if report.complete
        else f"INCOMPLETE: {missing:,} facts have no event, {wrong:,} events contradict the API"
    )
    return "\n".join(
        [
            f"verify {format_timestamp(report.window_start)} .. "
            f"{format_timestamp(report.window_end)}",
            f"  API: {report.sessions:,} sessions in {window.pages:,} pages "
            f"({window.unreadable:,} records not valid sessions)",
            f"  events topic {verification.topic}: {events.records:,} records read "
            f"({events.unreadable:,} not readable events)",
            "",
            header,
            *rows,
            "",
            *_findings("missing", report.missing),
            *_findings("wrong", report.wrong),
            "",
            verdict,
        ]
    )


def run(args: argparse.Namespace) -> int:
    settings = load_or_explain(args.config)
    if settings is None:
        return EXIT_USAGE
    if args.end <= args.start:
        print("error: --to must be after --from", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.observability.log_format, settings.observability.log_level)
    progress = VerifyProgress(args.start, args.end, sys.stderr)
    try:
        verification = asyncio.run(verify(settings, args.start, args.end, progress))
    except FeederError as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(document(verification), indent=2))
    else:
        print(render_table(verification))
    return EXIT_COMPLETE if verification.report.complete else EXIT_INCOMPLETE
