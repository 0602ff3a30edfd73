"""``feeder backfill --from T [--to T2]``: publish a past window's events; the live feed's
checkpoint is never read or moved."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO, TypeVar

from feeder.commands.arguments import timestamp
from feeder.commands.settings_loading import load_or_explain
from feeder.core.page_plan import PagePlan
from feeder.core.records import OutgoingRecord
from feeder.core.slices import Slice
from feeder.core.timestamps import format_timestamp, utc_now
from feeder.errors import FeederError
from feeder.listening import bind_tcp
from feeder.observability.backfill_metrics import backfill_metrics_served
from feeder.observability.logs import configure_logging
from feeder.runtime.backfill import run_backfill
from feeder.runtime.collection import collecting_on_a_timer
from feeder.sweep.sweeper import PassReport

STATE_FILES = "backfill-*.sqlite3"
"""The default state files' names (a glob), beside the live checkpoint; a sliced backfill's
files (``backfill-….slice-003-of-032.sqlite3``) match it too."""
DEFAULT_SLICES = 32
DEFAULT_CONCURRENCY = 8
"""Eight sweeps keep 20 requests/s busy against pages that take up to ~300 ms each."""

T = TypeVar("T")


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
    parser.add_argument(
        "--slices",
        type=positive_int,
        default=DEFAULT_SLICES,
        help="cut the window into this many slices, each with its own state file beside --state "
        f"(default {DEFAULT_SLICES}; resume with the same number)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        help="slices swept at once, all under FEEDER_API__REQUESTS_PER_S "
        f"(default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--metrics-port",
        type=port_number,
        default=None,
        help="serve the progress as Prometheus metrics on this port while the backfill runs "
        "(/metrics, /healthz, /readyz; 0 = any free port; default: nothing listens)",
    )
    parser.add_argument(
        "--metrics-host",
        default=None,
        help="the address --metrics-port listens on (default: FEEDER_OBSERVABILITY__HOST)",
    )
    parser.add_argument("--config", type=Path, help="TOML file of settings (env vars override)")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def port_number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {value}")
    return value


class BackfillProgress:
    """Counts what the backfill published and how far each slice has come.

    On a terminal (``stream.isatty()``) it redraws one line per page: the share of the window
    done, records and events so far, the rate since this run began and the time left at that
    rate. Elsewhere (a log file, a container) it writes the same as a line every ``every_s``.
    """

    def __init__(
        self,
        start: datetime,
        end: datetime,
        stream: TextIO,
        *,
        every_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._start, self._end, self._stream = start, end, stream
        self.records = self.events = self.dead_letters = 0
        self.slices_done = 0
        self._slices: dict[int, tuple[Slice, float]] = {}  # index -> (slice, seconds covered)
        self._draw = stream.isatty()
        self._every_s = every_s
        self._monotonic = monotonic
        self._began_s = monotonic()
        self._last_line_s = self._began_s
        self._covered_at_start_s: float | None = None

    def for_slice(self, piece: Slice, resumed_at: datetime) -> SliceProgress:
        covered_s = min(piece.span_s, max(0.0, (resumed_at - piece.start).total_seconds()))
        self._slices[piece.index] = (piece, covered_s)
        if resumed_at >= piece.end:  # done by an earlier run: its sweep reads nothing
            self.slices_done += 1
        return SliceProgress(self, piece)

    @property
    def done(self) -> float:
        """The share of the window's span swept (slices not begun yet count as not done); 1.0
        once every slice is done (their spans leave out the millisecond between two slices)."""
        span_s = (self._end - self._start).total_seconds()
        if span_s <= 0 or self._all_slices_done():
            return 1.0
        return min(1.0, sum(covered for _, covered in self._slices.values()) / span_s)

    @property
    def slices_total(self) -> int:
        """Slices this run has begun (or found done): all of them once every sweep started."""
        return len(self._slices)

    @property
    def records_per_s(self) -> float:
        """Records read per second since this run began."""
        return self.records / max(1e-9, self._monotonic() - self._began_s)

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace since the first page of this run; ``None`` while unknown
        (no page yet, or nothing gained since)."""
        if self._covered_at_start_s is None:
            return None
        done = self.done
        gained = done - self._covered_at_start_s
        if gained <= 0:
            return None
        return (1.0 - done) * max(1e-9, self._monotonic() - self._began_s) / gained

    def _all_slices_done(self) -> bool:
        count = next((piece.count for piece, _ in self._slices.values()), None)
        return count is not None and self.slices_done >= count

    def status(self) -> str:
        """The progress line: done, counts, rate and time left."""
        done = self.done
        if self._covered_at_start_s is None:
            self._covered_at_start_s = done
        eta_s = self.eta_s
        eta = "?" if eta_s is None else _duration(eta_s)
        bar = "#" * int(done * 30)
        return (
            f"[{bar:<30}] {done:6.1%}  {self.records:,} records  {self.events:,} events  "
            f"{self.dead_letters:,} dead letters  {self.records_per_s:,.0f} records/s  "
            f"ETA {eta}  slices {self.slices_done}/{self.slices_total} done"
        )

    def slice_page(self, piece: Slice, plan: PagePlan) -> None:
        self.records += plan.sessions_read
        self.events += len(plan.events)
        self.dead_letters += len(plan.dead_letters)
        if plan.max_updated_at is not None:
            reached = (plan.max_updated_at - piece.start).total_seconds()
            _, covered_s = self._slices[piece.index]
            self._slices[piece.index] = (piece, min(piece.span_s, max(covered_s, reached)))
        self._show()

    def slice_finished(self, piece: Slice) -> None:
        self._slices[piece.index] = (piece, piece.span_s)
        self.slices_done += 1
        self._show()

    def finish(self) -> None:
        """After the last slice: the final line (on a terminal, ends the redrawn one)."""
        self._stream.write(("\r" if self._draw else "") + self.status() + "\n")
        self._stream.flush()

    def _show(self) -> None:
        if self._covered_at_start_s is None:
            self._covered_at_start_s = self.done
        if self._draw:
            self._stream.write("\r" + self.status())
            self._stream.flush()
            return
        now_s = self._monotonic()
        if now_s - self._last_line_s >= self._every_s:
            self._last_line_s = now_s
            self._stream.write(f"backfill {self.status()}\n")
            self._stream.flush()

    # A single-slice observer, for callers that run one sweep without slices.
    def page_written(
        self,
        pass_name: str,
        plan: PagePlan,
        records: Sequence[OutgoingRecord],
        *,
        commit_s: float,
        acked_at: datetime,
    ) -> None:
        self.records += plan.sessions_read
        self.events += len(plan.events)
        self.dead_letters += len(plan.dead_letters)

    def read_finished(self, pass_name: str, started_at: datetime, now: datetime) -> None:
        """Slices report through :meth:`for_slice`."""

    def tick_finished(self, report: PassReport) -> None:
        """A backfill has no ticks."""


class SliceProgress:
    """One slice's sweep observer, reporting to the backfill's :class:`BackfillProgress`."""

    def __init__(self, progress: BackfillProgress, piece: Slice) -> None:
        self._progress, self._piece = progress, piece

    def page_written(
        self,
        pass_name: str,
        plan: PagePlan,
        records: Sequence[OutgoingRecord],
        *,
        commit_s: float,
        acked_at: datetime,
    ) -> None:
        self._progress.slice_page(self._piece, plan)

    def read_finished(self, pass_name: str, started_at: datetime, now: datetime) -> None:
        self._progress.slice_finished(self._piece)

    def tick_finished(self, report: PassReport) -> None:
        """A backfill has no ticks."""


def _duration(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


async def _serving_metrics(
    backfilling: Awaitable[T], progress: BackfillProgress, listener: socket.socket | None
) -> T:
    """Await ``backfilling``, serving ``progress`` on ``listener`` meanwhile (if there is one)."""
    if listener is None:
        return await backfilling
    async with backfill_metrics_served(progress, listener):
        return await backfilling


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
    listener = None
    if args.metrics_port is not None:
        host = args.metrics_host or settings.observability.host
        try:
            listener = bind_tcp(host, args.metrics_port)
        except OSError as exc:
            print(
                f"error: cannot listen on {host}:{args.metrics_port} ({exc}); "
                "choose another --metrics-port (0 = any free one) or --metrics-host",
                file=sys.stderr,
            )
            return 2
        authority = f"[{host}]" if ":" in host else host
        bound_port = listener.getsockname()[1]
        print(f"backfill metrics at http://{authority}:{bound_port}/metrics", file=sys.stderr)
    backfilling = run_backfill(
        settings,
        start=args.start,
        end=end,
        state_path=state,
        observer=progress,
        slices=args.slices,
        concurrency=args.concurrency,
    )
    try:
        asyncio.run(collecting_on_a_timer(_serving_metrics(backfilling, progress, listener)))
        progress.finish()
    except FeederError as error:
        print(f"\nerror: {error} (run the same command again to resume)", file=sys.stderr)
        return 1
    where = state if args.slices == 1 else state.with_name(f"{state.stem}.slice-*{state.suffix}")
    print(
        f"backfilled {format_timestamp(args.start)} .. {format_timestamp(end)}: "
        f"{progress.records:,} records, {progress.events:,} events, "
        f"{progress.dead_letters:,} dead letters (state: {where})"
    )
    return 0
