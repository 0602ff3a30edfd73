"""The ground truth matches what the API serves; a seed makes a run repeatable."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
from feeder_devkit.simulator import (
    TRANSITION_KINDS,
    ManualClock,
    Simulator,
    Transition,
    read_jsonl,
    run_simulator,
)
from feeder_devkit.simulator.clock import from_ms, parse_timestamp, to_ms

from tests.simulator.conftest import START, make_settings, sweep

pytestmark = pytest.mark.asyncio

BUSY = {
    "start_paused": False,
    "new_sessions_per_s": 8,
    "speedup": 60,
    "fraud_share": 0.4,
    "reentry_share": 0.5,
    "tie_share": 0.3,
    "session_ttl_s": 1200,
}


async def run_busy(sim: Simulator, clock: ManualClock, seconds: int) -> None:
    for _ in range(seconds * 2):
        clock.advance(0.5)
        sim.step()


@pytest_asyncio.fixture
async def busy(tmp_path: Path) -> AsyncIterator[tuple[Simulator, ManualClock]]:
    clock = ManualClock(START)
    settings = make_settings(traffic=BUSY, ground_truth={"path": tmp_path / "truth.jsonl"})
    async with run_simulator(settings, clock=clock) as sim:
        await run_busy(sim, clock, 60)
        yield sim, clock


def from_iso(text: str) -> datetime:
    return from_ms(parse_timestamp(text))


def replay(transitions: list[Transition]) -> dict[str, dict[str, Any]]:
    """The state each session must have, from its transitions alone."""
    fields = {
        "entered": "customerLastEnteredAt",
        "exited": "customerLastExitedAt",
        "code_scanned": "codeLastSuccesfullyScannedAt",
        "suspected_fraud_changed": "suspectedFraud",
        "status_changed": "status",
    }
    state: dict[str, dict[str, Any]] = {}
    for t in transitions:
        if t.kind == "created":
            state[t.session_id] = {
                "status": t.new,
                "suspectedFraud": False,
                "customerLastEnteredAt": None,
                "customerLastExitedAt": None,
                "codeLastSuccesfullyScannedAt": None,
                "createdAt": t.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            }
        else:
            state[t.session_id][fields[t.kind]] = t.new
    return state


async def test_ground_truth_matches_what_the_api_serves(
    busy: tuple[Simulator, ManualClock],
) -> None:
    sim, _ = busy
    transitions = sim.ground_truth()
    assert {t.kind for t in transitions} == set(TRANSITION_KINDS)
    expected = replay(transitions)
    headers = {"authorization": f"Bearer {sim.token}"}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as client:
        served = {r["id"]: r for r in await sweep(client, {"count": 200})}
    assert set(served) == set(expected)
    for session_id, state in expected.items():
        record = served[session_id]
        assert {k: record[k] for k in state} == state, session_id
        last_ms = max(t.updated_at_ms for t in transitions if t.session_id == session_id)
        # updatedAt also moves on changes that are no transition (visitors, satisfaction)
        assert to_ms(from_iso(record["updatedAt"])) >= last_ms


async def test_transitions_are_ordered_and_stamped(busy: tuple[Simulator, ManualClock]) -> None:
    sim, _ = busy
    transitions = sim.ground_truth()
    assert [t.seq for t in transitions] == list(range(1, len(transitions) + 1))
    assert all(t.updated_at_ms <= t.visible_at_ms for t in transitions)
    assert all(a.visible_at_ms <= b.visible_at_ms for a, b in itertools.pairwise(transitions))
    assert all(t.at_ms <= t.updated_at_ms for t in transitions)
    entered = [t for t in transitions if t.kind == "entered"]
    per_session: dict[str, int] = {}
    for t in entered:
        per_session[t.session_id] = per_session.get(t.session_id, 0) + 1
    assert max(per_session.values()) >= 2, "nobody entered twice"
    flips = [t for t in transitions if t.kind == "suspected_fraud_changed"]
    assert {t.new for t in flips} == {True, False}, "fraud flips in both directions"
    stamps = [t.updated_at_ms for t in transitions if t.kind != "created"]
    assert len(stamps) > len(set(stamps)), "no updatedAt ties"


async def test_the_jsonl_file_holds_the_same_transitions(
    busy: tuple[Simulator, ManualClock], tmp_path: Path
) -> None:
    sim, _ = busy
    assert sim.ground_truth_path == tmp_path / "truth.jsonl"
    assert read_jsonl(tmp_path / "truth.jsonl") == sim.ground_truth()


async def test_the_admin_endpoint_serves_the_ground_truth(
    busy: tuple[Simulator, ManualClock],
) -> None:
    sim, _ = busy
    everything = sim.ground_truth()
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        body = (await client.get("/_simulator/ground-truth")).json()
        assert body["last_seq"] == everything[-1].seq
        assert [Transition.from_json(r) for r in body["transitions"]] == everything
        page = await client.get("/_simulator/ground-truth", params={"after_seq": 10, "limit": 5})
        assert [r["seq"] for r in page.json()["transitions"]] == [11, 12, 13, 14, 15]
        kinds = await client.get(
            "/_simulator/ground-truth", params={"kind": "entered,exited", "session_id": "3"}
        )
        expected = [
            t for t in everything if t.session_id == "3" and t.kind in ("entered", "exited")
        ]
        assert [Transition.from_json(r) for r in kinds.json()["transitions"]] == expected
        lines = await client.get("/_simulator/ground-truth", params={"format": "jsonl"})
        assert lines.headers["content-type"] == "application/x-ndjson"
        parsed = [Transition.from_json(orjson.loads(x)) for x in lines.content.splitlines()]
        assert parsed == everything
        bad = await client.get("/_simulator/ground-truth", params={"after_seq": "x"})
        assert bad.status_code == 400


async def run_and_record(seed: int) -> tuple[list[dict[str, Any]], list[bytes]]:
    clock = ManualClock(START)
    settings = make_settings(traffic={**BUSY, "seed": seed, "preload_sessions": 50})
    async with run_simulator(settings, clock=clock) as sim:
        await run_busy(sim, clock, 20)
        headers = {"authorization": f"Bearer {sim.token}"}
        async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as client:
            pages = [
                (await client.get("/api/admin/v2/sessions", params={"count": 200})).content,
                (
                    await client.get(
                        "/api/admin/v2/sessions", params={"orderBy": "updatedAt", "count": 200}
                    )
                ).content,
            ]
        return [t.to_json() for t in sim.ground_truth()], pages


async def test_a_seed_makes_the_run_repeatable() -> None:
    first = await run_and_record(seed=21)
    again = await run_and_record(seed=21)
    other = await run_and_record(seed=22)
    assert len(first[0]) > 50
    assert first == again
    assert first[0] != other[0]


async def test_preloaded_sessions_can_be_logged_as_created() -> None:
    settings = make_settings(
        traffic={"preload_sessions": 40},
        ground_truth={"include_preload": True, "memory_max": 1000},
    )
    async with run_simulator(settings, clock=ManualClock(START)) as sim:
        created = sim.ground_truth(kinds=["created"])
        assert [t.session_id for t in created] == [str(i) for i in range(1, 41)]
        assert {t.kind for t in sim.ground_truth()} >= {"created", "entered", "status_changed"}
    quiet = make_settings(traffic={"preload_sessions": 40})
    async with run_simulator(quiet, clock=ManualClock(START)) as sim:
        assert sim.ground_truth() == []
        assert sim.session_count == 40
