"""Properties of the passes over random traffic with writes that become visible late.

The real sweeper, planner and core against an in-memory API whose writes become visible when the
injected clock says so; ticks every second. No sleeps: each example runs in milliseconds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from feeder.checkpoint import MemoryCheckpointStore
from feeder.core.encoding import EventEncoding
from feeder.core.passes import reread_passes
from feeder.core.records import TopicNames
from feeder.sink import MemorySink
from feeder.source.page import PageQuery, RawPage
from feeder.sweep.delivery import AtLeastOnceDelivery
from feeder.sweep.sweeper import SweepConfig, Sweeper
from tests.core.sessions import at, record
from tests.sweep.doubles import CountingObserver, ListedSessions, SettableClock

DELAYS_S = (1.0, 4.0, 8.0, 12.0, 60.0)
POLL_S = 1.0


@dataclass
class LateWrites(ListedSessions):
    """Writes made at their stamp that become visible ``lateness`` later."""

    pending: list[tuple[datetime, dict[str, object]]] = field(default_factory=list)
    first_read: dict[str, datetime] = field(default_factory=dict)

    def write(self, raw: dict[str, object], visible_at: datetime) -> None:
        self.pending.append((visible_at, raw))

    async def fetch_page(self, query: PageQuery) -> RawPage:
        assert self.clock is not None
        due = [pair for pair in self.pending if pair[0] <= self.clock.now]
        self.pending = [pair for pair in self.pending if pair[0] > self.clock.now]
        for _, raw in sorted(due, key=lambda pair: pair[0]):
            self.put(raw)
        page = await super().fetch_page(query)
        for raw in page.sessions:
            assert isinstance(raw, dict)
            self.first_read.setdefault(str(raw["id"]), self.clock.now)
        return page


@st.composite
def traffic(draw: st.DrawFn) -> list[tuple[float, float]]:
    """(stamp, lateness) of one write per session, in seconds after T0."""
    writes = []
    for _ in range(draw(st.integers(1, 40))):
        stamp = draw(st.integers(10_000, 40_000)) / 1000
        late = draw(st.one_of(st.just(0.0), st.integers(1, 59_000).map(lambda ms: ms / 1000)))
        writes.append((stamp, late))
    return writes


async def _run(
    writes: list[tuple[float, float]],
    seconds: int,
    *,
    then_idle: int = 0,
    request_s: float = 0.0,
) -> tuple[LateWrites, Sweeper, int]:
    """Tick ``seconds`` times, then ``then_idle`` more; returns the requests of the last ones.

    ``request_s``: how much of the clock each request takes; with it, a tick has one poll
    interval of budget, as in ``feeder run``.
    """
    clock = SettableClock(at(5))
    api = LateWrites(clock=clock, seconds_per_request=request_s)
    for number, (stamp, late) in enumerate(writes):
        api.write(record(f"s{number}", created=stamp, updated=stamp), at(stamp + late))
    store = MemoryCheckpointStore()
    config = SweepConfig(
        page_size=3,
        poll_interval_s=POLL_S,
        reread_delays_s=DELAYS_S,
        max_record_bytes=1_000_000,
        encoding=EventEncoding(source="urn:test"),
        topics=TopicNames("events", "fraud", "state", "dlq"),
    )
    sweeper = Sweeper(
        source=api,
        delivery=AtLeastOnceDelivery(MemorySink(), store, clock),
        store=store,
        config=config,
        position=await Sweeper.resume_position(store, at(0), DELAYS_S),
        clock=clock,
        observer=CountingObserver(),
        stopping=asyncio.Event(),
    )
    budget_s = POLL_S if request_s else None
    for _ in range(seconds):
        tick_at = clock.now
        await sweeper.run_tick(budget_s=budget_s)
        clock.now = max(clock.now, tick_at + timedelta(seconds=POLL_S))  # drift-free ticks
    before = len(api.queries)
    for _ in range(then_idle):
        clock.advance(POLL_S)
        await sweeper.run_tick()
    return api, sweeper, len(api.queries) - before


def _catch_bound_s(lateness_s: float) -> float:
    """When a write that late must have been read, after it became visible."""
    if lateness_s == 0:
        return POLL_S
    for reread in reread_passes(DELAYS_S, POLL_S):
        if reread.delay_s > lateness_s:
            return reread.delay_s - lateness_s + reread.cadence_s + POLL_S
    raise AssertionError("beyond the lookback")


@settings(max_examples=60, deadline=None)
@given(writes=traffic())
def test_a_write_is_read_soon_after_it_becomes_visible_however_late(
    writes: list[tuple[float, float]],
) -> None:
    """With the budget unlimited: on time, within a poll; d late, by the first pass beyond d."""
    api, _, _ = asyncio.run(_run(writes, seconds=120))
    for number, (stamp, late) in enumerate(writes):
        read_at = api.first_read[f"s{number}"]
        waited_s = (read_at - at(stamp + late)).total_seconds()
        assert 0 <= waited_s <= _catch_bound_s(late), (stamp, late, waited_s)


@settings(max_examples=30, deadline=None)
@given(writes=traffic())
def test_once_every_pass_has_re_read_everything_a_tick_makes_one_request(
    writes: list[tuple[float, float]],
) -> None:
    # the last write is visible by 100 s; the 60 s pass has re-read it by 160 s
    _, _, idle_requests = asyncio.run(_run(writes, seconds=160, then_idle=20))
    assert idle_requests == 20


@settings(max_examples=40, deadline=None)
@given(writes=traffic())
def test_with_too_small_a_budget_every_write_is_still_read_once_it_is_visible(
    writes: list[tuple[float, float]],
) -> None:
    """Each request takes 0.3 s of a 1 s tick: re-reads fall behind and skip ahead, the
    lookback pass never skips, so every write within the lookback is read in the end."""
    api, _, _ = asyncio.run(_run(writes, seconds=400, request_s=0.3))
    unread = [
        (stamp, late)
        for number, (stamp, late) in enumerate(writes)
        if f"s{number}" not in api.first_read
    ]
    assert unread == []
    for number, (stamp, late) in enumerate(writes):
        assert api.first_read[f"s{number}"] >= at(stamp + late)  # read once visible
