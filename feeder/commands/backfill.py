"""``feeder backfill --from T [--to T2]``: publish a past window's events; the live feed's
checkpoint is never read or moved."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from feeder.app import run_backfill
from feeder.commands.arguments import timestamp
from feeder.commands.settings_loading import load_or_explain
from feeder.core.page_plan import PagePlan
from feeder.core.records import OutgoingRecord
from feeder.core.timestamps import format_timestamp
from feeder.errors import FeederError
from feeder.observability.logs import configure_logging
from feeder.source.timing import utc_now
from feeder.sweeper import PassReport

STATE_FILES = "backfill-*.sqlite3"
"""The default state files' names (a glob), beside the live checkpoint."""


def default_state_path(checkpoint: Path, start: datetime, end: datetime | None) -> Path:
    """Where a backfill of ``[start, end]`` keeps its state unless ``--state`` says otherwise."""
    until = "now" if end is None else f"{end:%Y%m%dT%H%M%S}"
    return checkpoint.with_name(f"backfill-{start:%Y%m%dT%H%M%S}-{until}.sqlite3")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="start",
        type=timestamp,
        required=True,
        help="window start (ISO-8601); transitions before it are not emitted",
    )
    parser.add_argument(
        "--to",
        dest="end",
        type=timestamp,
        default=None,
        help="window end (ISO-8601; default: now)",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="the backfill's own state file; the same file resumes an "
        "interrupted backfill (default: next to the checkpoint, named by window)",
    )
    parser.add_argument("--config", type=Path, help="TOML file of settings (env vars override)")


class BackfillProgress:
    """Counts what the backfill published; draws a progress line when ``stream`` is a TTY."""

    def __init__(self, start: datetime, end: datetime, stream: TextIO) -> None:
        self._start, self._end, self._stream = start, end, stream
        self.records = self.events = self.dead_letters = 0
        self._draw = stream.isatty()

    def page_written(
        self,
        sweep: str,
        plan: PagePlan,
        records: Sequence[OutgoingRecord],
        *,
        commit_s: float,
        acked_at: datetime,
    ) -> None:
        self.records += plan.records_read
        self.events += len(plan.events)
        self.dead_letters += len(plan.dead_letters)
        if self._draw and plan.max_updated_at is not None:
            self._line(plan.max_updated_at)

    def read_finished(self, sweep: str, started_at: datetime, now: datetime) -> None:
        if self._draw:
            self._line(self._end)
            self._stream.write("\n")

    def tick_finished(self, report: PassReport) -> None:
        """A backfill has no ticks."""

    def _line(self, reached: datetime) -> None:
        span = (self._end - self._start).total_seconds() or 1.0
        done = min(1.0, max(0.0, (reached - self._start).total_seconds() / span))
        bar = "#" * int(done * 30)
        self._stream.write(
            f"\r[{bar:<30}] {done:6.1%} {format_timestamp(reached)}  {self.records:,} records  "
            f"{self.events:,} events  {self.dead_letters:,} dead letters"
        )
        self._stream.flush()


def run(args: argparse.Namespace) -> int:
    settings = load_or_explain(args.config)
    if settings is None:
        return 2
    configure_logging(settings.observability.log_format, settings.observability.log_level)
    end = args.end or utc_now()
    if end <= args.start:
        print("error: --to must be after --from", file=sys.stderr)
        return 2
    checkpoint = settings.checkpoint.path
    state = args.state or default_state_path(checkpoint, args.start, args.end)
    if state.resolve() == checkpoint.resolve():
        print("error: --state must not be the live checkpoint file", file=sys.stderr)
        return 2
    progress = BackfillProgress(args.start, end, sys.stderr)
    try:
        asyncio.run(
            run_backfill(settings, start=args.start, end=end, state_path=state, observer=progress)
        )
    except FeederError as error:
        print(f"\nerror: {error} (run the same command again to resume)", file=sys.stderr)
        return 1
    print(
        f"backfilled {format_timestamp(args.start)} .. {format_timestamp(end)}: "
        f"{progress.records:,} records, {progress.events:,} events, "
        f"{progress.dead_letters:,} dead letters (state: {state})"
    )
    return 0
