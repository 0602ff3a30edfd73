"""``feeder_backfill_*`` read a backfill's progress at scrape time: the same done share, rate and
time left as the progress line, on an injected clock (spans and times chosen so every value is
exact in binary floating point)."""

from __future__ import annotations

import io
import math
import socket
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from feeder.commands.backfill import BackfillProgress
from feeder.core.page_plan import PagePlan
from feeder.core.slices import Slice, slice_window
from feeder.listening import bind_tcp
from feeder.observability.backfill_metrics import backfill_metrics_served, backfill_registry

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW_S = 1024


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def page(records: int, *, events: int, reached_s: float) -> PagePlan:
    """A page of ``records`` already-applied versions whose newest ``updatedAt`` is
    ``reached_s`` into the window (``events`` stands in for what the page published)."""
    return PagePlan(
        events=(None,) * events,  # type: ignore[arg-type]  # only counted
        fresh=(),
        confirmed=(),
        states={},
        dead_letters=(),
        duplicates=records,
        replayed=(),
        regressed=0,
        new_version_ages_s=(),
        order_violations=0,
        last_updated_at=None,
        max_updated_at=T0 + timedelta(seconds=reached_s),
    )


def scraped(progress: BackfillProgress) -> dict[str, float]:
    """Every sample of the exposition text, as Prometheus would parse it."""
    text = generate_latest(backfill_registry(progress)).decode()
    return {
        sample.name + "".join(f"{{{k}={v}}}" for k, v in sorted(sample.labels.items())): (
            sample.value
        )
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_metrics_follow_the_progress_with_the_rate_and_time_left_of_this_run() -> None:
    clock = Clock()
    progress = BackfillProgress(
        T0, T0 + timedelta(seconds=WINDOW_S), io.StringIO(), monotonic=clock
    )
    first = Slice(0, 2, T0, T0 + timedelta(seconds=512))
    second = Slice(1, 2, T0 + timedelta(seconds=512), T0 + timedelta(seconds=WINDOW_S))
    progress.for_slice(first, T0 + timedelta(seconds=128))  # an earlier run swept 128 s of it
    progress.for_slice(second, second.start)

    before = scraped(progress)
    assert before["feeder_backfill_records_total"] == 0
    assert before["feeder_backfill_done_ratio"] == 0.125
    assert before["feeder_backfill_records_per_second"] == 0
    assert math.isnan(before["feeder_backfill_eta_seconds"])  # no page yet: unknown
    assert before["feeder_backfill_slices{state=done}"] == 0
    assert before["feeder_backfill_slices{state=total}"] == 2

    clock.now_s = 110.0
    progress.slice_page(first, page(40, events=3, reached_s=256))
    # The first page sets the pace's origin: nothing gained since, so still no time left.
    after_one = scraped(progress)
    assert after_one["feeder_backfill_done_ratio"] == 0.25
    assert after_one["feeder_backfill_records_per_second"] == 4.0
    assert math.isnan(after_one["feeder_backfill_eta_seconds"])

    clock.now_s = 116.0
    progress.slice_page(second, page(88, events=5, reached_s=768))
    after_two = scraped(progress)
    assert after_two["feeder_backfill_records_total"] == 128
    assert after_two["feeder_backfill_events_total"] == 8
    assert after_two["feeder_backfill_dead_letters_total"] == 0
    assert after_two["feeder_backfill_done_ratio"] == 0.5
    assert after_two["feeder_backfill_records_per_second"] == 8.0  # 128 records in 16 s
    assert after_two["feeder_backfill_eta_seconds"] == 32.0  # 0.25 gained in 16 s, 0.5 to go

    clock.now_s = 132.0
    progress.slice_finished(first)
    one_done = scraped(progress)
    assert one_done["feeder_backfill_done_ratio"] == 0.75
    assert one_done["feeder_backfill_eta_seconds"] == 16.0  # 0.5 gained in 32 s, 0.25 to go
    assert one_done["feeder_backfill_records_per_second"] == 4.0
    assert one_done["feeder_backfill_slices{state=done}"] == 1

    clock.now_s = 140.0
    progress.slice_finished(second)
    done = scraped(progress)
    assert done["feeder_backfill_done_ratio"] == 1.0
    assert done["feeder_backfill_eta_seconds"] == 0.0
    assert done["feeder_backfill_slices{state=done}"] == 2
    assert done["feeder_backfill_slices{state=total}"] == 2
    # The line shows the same numbers the metrics do.
    assert "100.0%  128 records  8 events" in progress.status()
    assert "ETA 0m00s  slices 2/2 done" in progress.status()


def test_a_slice_done_by_an_earlier_run_counts_as_done_and_leaves_the_pace_unknown() -> None:
    clock = Clock()
    progress = BackfillProgress(
        T0, T0 + timedelta(seconds=WINDOW_S), io.StringIO(), monotonic=clock
    )
    piece = Slice(0, 1, T0, T0 + timedelta(seconds=WINDOW_S))
    progress.for_slice(piece, piece.end)
    clock.now_s = 200.0
    metrics = scraped(progress)
    assert metrics["feeder_backfill_done_ratio"] == 1.0
    assert metrics["feeder_backfill_slices{state=done}"] == 1
    assert metrics["feeder_backfill_records_per_second"] == 0
    assert math.isnan(metrics["feeder_backfill_eta_seconds"])


def test_the_done_ratio_reaches_one_when_every_slice_is_done() -> None:
    # Two slices leave out the millisecond between them: their spans alone would stop short.
    end = T0 + timedelta(seconds=WINDOW_S)
    progress = BackfillProgress(T0, end, io.StringIO(), monotonic=Clock())
    pieces = slice_window(T0, end, 2)
    for piece in pieces:
        progress.for_slice(piece, piece.start)
    for piece in pieces:
        progress.slice_finished(piece)
    assert scraped(progress)["feeder_backfill_done_ratio"] == 1.0


class BackfillFailedError(Exception):
    """Stands for a backfill that stopped on an error."""


async def answer_then_fail(
    progress: BackfillProgress, listener: socket.socket, http: httpx.AsyncClient
) -> NoReturn:
    """Serve ``progress``, ask each path once, then fail as a backfill would; the answers are
    in the exception's ``answers``."""
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    async with backfill_metrics_served(progress, listener):
        answers = [await http.get(f"{base}{path}") for path in ("/readyz", "/healthz", "/metrics")]
        raise BackfillFailedError(answers)


@pytest.mark.asyncio
async def test_the_server_answers_while_the_backfill_runs_and_stops_when_it_fails() -> None:
    progress = BackfillProgress(
        T0, T0 + timedelta(seconds=WINDOW_S), io.StringIO(), monotonic=Clock()
    )
    listener = bind_tcp("127.0.0.1", 0)
    port = listener.getsockname()[1]
    async with httpx.AsyncClient(timeout=10) as http:
        with pytest.raises(BackfillFailedError) as failed:
            await answer_then_fail(progress, listener, http)
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/metrics")
    [answers] = failed.value.args
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert "feeder_backfill_done_ratio 0.0" in answers[2].text
    assert listener.fileno() == -1  # closed with the server
