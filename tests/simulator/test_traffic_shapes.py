"""The traffic shapes production has, on demand: hot sessions, late commits with a spread of
lateness, writers whose clocks are slow, a lagging replica; and the version log that tells a test
what a poller could have seen. A manual clock drives the simulator; a real HTTP server serves it."""

from __future__ import annotations

from collections import Counter

import httpx
import orjson
import pytest
from feeder_devkit.simulator import ManualClock, Simulator, run_simulator
from feeder_devkit.simulator.clock import to_ms

from tests.simulator.conftest import START, make_settings, sweep

pytestmark = pytest.mark.asyncio
BUSY = {"new_sessions_per_s": 20, "speedup": 60, "start_paused": False, "tie_share": 0}


def run_for(sim: Simulator, clock: ManualClock, seconds: float, step_s: float = 0.05) -> None:
    for _ in range(round(seconds / step_s)):
        clock.advance(step_s)
        sim.step()


async def test_hot_sessions_change_every_interval_without_transitions() -> None:
    clock = ManualClock(START)
    settings = make_settings(
        traffic={**BUSY, "hot_share": 1.0, "hot_interval_ms": 100},
        ground_truth={"track_served": True},
    )
    async with run_simulator(settings, clock=clock) as sim:
        run_for(sim, clock, 10)
        versions = sim.versions()
        transitions = sim.ground_truth()
    changes = Counter(session_id for session_id, _ in versions)
    busiest = max(changes.values())
    assert busiest >= 50  # ~10 s at a change every 100 ms
    touched = {session_id for session_id, count in changes.items() if count > 20}
    assert touched
    # touches make versions, not transitions: far fewer transitions than versions
    assert len(transitions) < len(versions) / 3


async def test_late_commits_spread_between_their_bounds() -> None:
    clock = ManualClock(START)
    faults = {"late_visible_share": 0.5, "late_visible_delay_s": 1, "late_visible_delay_max_s": 8}
    settings = make_settings(traffic=BUSY, faults=faults)
    async with run_simulator(settings, clock=clock) as sim:
        run_for(sim, clock, 20)
        transitions = sim.ground_truth()
    late_s = [(t.visible_at_ms - t.updated_at_ms) / 1000 for t in transitions]
    spread = [s for s in late_s if s >= 0.9]
    assert len(spread) > 20
    assert min(spread) < 2.5
    assert max(spread) > 6.0
    assert max(late_s) <= 8.0 + 1.5  # queued behind a held change of its session, at most a bit


async def test_writers_with_slow_clocks_stamp_older_than_what_was_served() -> None:
    clock = ManualClock(START)
    settings = make_settings(
        traffic={**BUSY, "writer_skews_ms": (0, -2000)}, ground_truth={"track_served": True}
    )
    async with run_simulator(settings, clock=clock) as sim:
        run_for(sim, clock, 10)
        versions = sim.versions()
        transitions = sim.ground_truth()
    regressions = [
        (sid, number)
        for (sid, number), version in versions.items()
        if (sid, number - 1) in versions
        and version.updated_at_ms < versions[(sid, number - 1)].updated_at_ms
    ]
    assert regressions, "no version older than its predecessor"
    slow = [t for t in transitions if t.visible_at_ms - t.updated_at_ms >= 1900]
    assert slow
    assert all(t.at_ms <= t.updated_at_ms for t in slow)


async def test_the_version_log_knows_what_was_served_and_when() -> None:
    clock = ManualClock(START)
    settings = make_settings(traffic=BUSY, ground_truth={"track_served": True})
    async with run_simulator(settings, clock=clock) as sim:
        run_for(sim, clock, 2)
        headers = {"authorization": f"Bearer {sim.token}"}
        async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as client:
            served = await sweep(client, {"orderBy": "updatedAt", "count": 200})
        versions = sim.versions()
    assert served
    seen = {
        (str(r["id"]), number)
        for (sid, number), v in versions.items()
        for r in served
        if str(r["id"]) == sid and v.first_served_at_ms is not None
    }
    assert {sid for sid, _ in seen} == {str(r["id"]) for r in served}
    current = {sid: max(n for s, n in versions if s == sid) for sid, _ in versions}
    for (sid, number), version in versions.items():
        assert (version.first_served_at_ms is not None) == (number == current[sid])
        assert version.visible_at_ms <= to_ms(clock())


async def test_a_frozen_replica_serves_versions_already_replaced() -> None:
    clock = ManualClock(START)
    settings = make_settings(traffic=BUSY, ground_truth={"track_served": True})
    async with run_simulator(settings, clock=clock) as sim:
        run_for(sim, clock, 2)
        frozen = [
            orjson.loads(orjson.dumps(sim.session(sid))) for sid in range(1, sim.session_count + 1)
        ]
        sim.freeze_replica()
        run_for(sim, clock, 5)
        sim.set_faults(sim.faults.model_copy(update={"replica_share": 1.0}))
        headers = {"authorization": f"Bearer {sim.token}"}
        async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as client:
            served = await sweep(client, {"orderBy": "updatedAt", "count": 200})
        versions = sim.versions()

    def key(record: dict[str, object]) -> tuple[str, int]:
        return str(record["updatedAt"]), int(str(record["id"]))

    assert sorted(served, key=key) == sorted(frozen, key=key)
    replayed = [key for key, version in versions.items() if version.replayed]
    assert replayed
    assert all(versions[key].first_served_at_ms is None for key in replayed)
