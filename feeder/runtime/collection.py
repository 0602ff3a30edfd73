"""Cyclic garbage collection on a timer rather than by allocation count.

A page of 200 sessions allocates tens of thousands of containers (the parsed JSON, the plan, over
a thousand records) that live until Kafka has acknowledged it, and a backfill holds several
pages at once. CPython's collector runs by allocation count (every 700 net allocations into its
youngest generation), so it walks the pages in flight again and again before they are freed by
reference counting: 10-20 µs of CPU per session in a backfill (``bench/gc_cost.py``), a tenth
of the feeder's cost. Almost nothing the feeder makes is cyclic (an httpx response and its stream
are, and the client does not leave the body on the response), so the automatic collector is off
while a command runs, and a full collection every ``interval_s`` frees what cycles there are:
garbage is bounded by what one interval makes (the modules and settings of start-up are frozen
out of every collection).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

COLLECTION_INTERVAL_S = 10.0
"""A full collection of a backfill's heap (eight pages in flight) takes ~50 ms of CPU: every 10 s
that is half a percent of a core, and the cycles of 10 s (~1,000 small objects a second in a
backfill) are a few MB at most."""


async def collecting_on_a_timer(work: Awaitable[T], interval_s: float = COLLECTION_INTERVAL_S) -> T:
    """Await ``work`` with the automatic collector off and a full collection every
    ``interval_s``; the collector is as it was after."""
    gc.freeze()  # what start-up made lives as long as the process
    was_enabled = gc.isenabled()
    gc.disable()
    collector = asyncio.create_task(_collect_every(interval_s), name="garbage collection")
    try:
        return await work
    finally:
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        if was_enabled:
            gc.enable()


async def _collect_every(interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        gc.collect()
