"""A backfill cut into slices swept at once, against a simulator that answers like a remote API
(a latency on every page), on the real broker: every session once, several pages in flight at
a time, and a crash resumed slice by slice without touching the live checkpoint."""

from __future__ import annotations

import io
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from feeder_devkit.simulator.server import run_simulator_in_thread
from feeder_devkit.simulator.settings import SimulatorSettings

from feeder.commands.backfill import BackfillProgress, SliceProgress
from feeder.core.page_plan import PagePlan
from feeder.core.slices import Slice, slice_window
from feeder.runtime.backfill import run_backfill
from tests.e2e.harness import feeder_settings, now, published_events

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(180)]

SESSIONS = 1200
PAGE_SIZE = 50


def remote_store() -> SimulatorSettings:
    """A paused store of ``SESSIONS`` sessions whose every page takes 40-80 ms."""
    return SimulatorSettings.model_validate(
        {
            "server": {"port": 0, "rate_limit_per_s": 0},
            "traffic": {
                "seed": 11,
                "start_paused": True,
                "preload_sessions": SESSIONS,
                "preload_span_s": 3600,
            },
            "faults": {"latency_ms": 40, "latency_jitter_ms": 40},
        }
    )


class CrashError(Exception):
    """Stands for the process dying right after a page was committed."""


class CountingProgress(BackfillProgress):
    """Progress that also tracks how many slices were being swept at once, and crashes after
    ``crash_after`` pages (``None``: never)."""

    def __init__(self, start: datetime, end: datetime, crash_after: int | None) -> None:
        super().__init__(start, end, io.StringIO())
        self.crash_after = crash_after
        self.pages = 0
        self.sweeping: set[int] = set()
        self.most_at_once = 0

    def for_slice(self, piece: Slice, resumed_at: datetime) -> SliceProgress:
        if resumed_at < piece.end:  # else done before: nothing to sweep
            self.sweeping.add(piece.index)
        self.most_at_once = max(self.most_at_once, len(self.sweeping))
        return super().for_slice(piece, resumed_at)

    def slice_finished(self, piece: Slice) -> None:
        super().slice_finished(piece)
        self.sweeping.discard(piece.index)

    def slice_page(self, piece: Slice, plan: PagePlan) -> None:
        super().slice_page(piece, plan)
        self.pages += 1
        if self.crash_after is not None and self.pages >= self.crash_after:
            raise CrashError


async def test_a_sliced_backfill_publishes_every_session_once_and_resumes_per_slice(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with run_simulator_in_thread(remote_store()) as sim:
        start, end = now() - timedelta(hours=2), now()
        settings = feeder_settings(
            sim.base_url,
            sim.token,
            kafka_bootstrap,
            tmp_path / "live.sqlite3",
            page_size=PAGE_SIZE,
        )
        state = tmp_path / "backfill.sqlite3"

        crashed = CountingProgress(start, end, crash_after=8)
        with pytest.raises(CrashError):
            await run_backfill(
                settings,
                start=start,
                end=end,
                state_path=state,
                observer=crashed,
                slices=6,
                concurrency=3,
            )
        resumed = CountingProgress(start, end, crash_after=None)
        positions = await run_backfill(
            settings,
            start=start,
            end=end,
            state_path=state,
            observer=resumed,
            slices=6,
            concurrency=3,
        )

    # Several slices were swept at once before the crash, not one after the other.
    assert crashed.most_at_once == resumed.most_at_once == 3
    # The rerun went on from each slice's committed cursor: it did not read everything again.
    assert crashed.records > 0
    assert resumed.records < SESSIONS
    assert [position.live for position in positions] == [
        piece.end for piece in slice_window(start, end, 6)
    ]
    assert all(position.feed_start == start for position in positions)
    assert sorted(name for name in os.listdir(tmp_path) if name.endswith(".sqlite3")) == [
        f"backfill.slice-{index:03d}-of-006.sqlite3" for index in range(1, 7)
    ]  # one state per slice, and no live checkpoint
    created = [
        event
        for event in await published_events(kafka_bootstrap, settings.kafka.topics.events)
        if event.type == "session.created"
    ]
    # Every session at least once (a page in flight at the crash may be sent again, with the
    # same id); never two ids for one session's creation.
    assert len({event.session_id for event in created}) == SESSIONS
    ids_by_session: dict[str, set[str]] = {}
    for event in created:
        ids_by_session.setdefault(event.session_id, set()).add(event.id)
    assert all(len(ids) == 1 for ids in ids_by_session.values())
