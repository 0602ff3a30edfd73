"""Backfill: publish the events of an explicit past window, in parallel slices, without
touching the live checkpoint."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from feeder.core.encoding import backfill
from feeder.core.records import OutgoingRecord
from feeder.core.slices import slice_state_path, slice_window
from feeder.core.state import FeedPosition
from feeder.core.timestamps import utc_now
from feeder.errors import first_leaf
from feeder.runtime.root import at_least_once, build_sweeper, open_api_client, open_sink, open_store
from feeder.settings import CheckpointSettings, FeederSettings
from feeder.typing import NO_OP_OBSERVER, BackfillObserver, Clock, RecordSink


class OnePageAtATime:
    """A sink that hands over one page at a time, whoever calls: the slices of a backfill fetch
    and plan their pages concurrently, and take turns at the producer, as a single sweep does
    (a failed page discards the producer, which would fail every other page in flight)."""

    def __init__(self, sink: RecordSink) -> None:
        self._sink = sink
        self._turn = asyncio.Lock()

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        async with self._turn:
            await self._sink.publish(records)

    async def aclose(self) -> None:
        await self._sink.aclose()


async def run_backfill(
    settings: FeederSettings,
    *,
    start: datetime,
    end: datetime,
    state_path: Path,
    observer: BackfillObserver,
    clock: Clock = utc_now,
    slices: int = 1,
    concurrency: int = 1,
) -> tuple[FeedPosition, ...]:
    """Publish the events of ``[start, end]`` without touching the live checkpoint.

    The window is cut into ``slices`` (:func:`slice_window`), swept ``concurrency`` at a time
    through one API client (so under one request budget, ``api.requests_per_s``) and one sink.
    Each slice keeps its own SQLite state (``slice_state_path(state_path, slice)``): running it
    again with the same path and slice count resumes every slice where it stopped, and skips
    those done. Events carry the same deterministic ids the live feed gives the same
    transitions, so consumers can dedupe any overlap, and are marked as a replay of
    ``[start, end]`` (``origin=backfill``, ``backfillwindow``). Returns each slice's position.
    """
    pieces = slice_window(start, end, slices)
    positions: dict[int, FeedPosition] = {}
    async with contextlib.AsyncExitStack() as stack:
        sink = OnePageAtATime(await open_sink(stack, settings))
        client = await open_api_client(stack, settings, observer=NO_OP_OBSERVER)
        waiting = list(pieces)

        async def sweep_slices() -> None:
            while waiting:
                piece = waiting.pop(0)
                path = slice_state_path(state_path, piece)
                async with open_store(CheckpointSettings(backend="sqlite", path=path)) as store:
                    position = await store.load_position() or FeedPosition(start, piece.start)
                    sweeper = build_sweeper(
                        settings,
                        store,
                        at_least_once(sink, store, clock),
                        client,
                        position=position,
                        origin=backfill(start, end),
                        clock=clock,
                        sweep_observer=observer.for_slice(piece, position.live),
                        stopping=asyncio.Event(),
                        reread_delays_s=(),  # one read of a past window: nothing is late any more
                    )
                    await sweeper.backfill(piece.end)
                    positions[piece.index] = sweeper.position

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(max(1, concurrency), len(pieces))):
                    group.create_task(sweep_slices())
        except BaseExceptionGroup as group:
            # The first slice to fail stopped the others (their pages in flight were not
            # committed, so a rerun sends them again); callers see that failure itself.
            raise first_leaf(group)  # noqa: B904 - its own cause stays as it was
    return tuple(positions[piece.index] for piece in pieces)
