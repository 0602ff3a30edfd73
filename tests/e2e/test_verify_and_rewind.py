"""`feeder verify` and `feeder checkpoint` against a real feed (simulator, broker, SQLite).

A feed pointed at a fresh events topic mid-run loses exactly the window before the switch:
verify finds that gap and nothing else, `checkpoint rewind --forget-sessions` plus a run repairs
it, and verify then finds nothing missing. On a healthy run verify finds nothing missing or
wrong, and the checkpoint cannot be moved while the feeder runs (but can be looked at).
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from feeder_devkit.simulator.engine import Simulator
from feeder_devkit.simulator.server import ThreadedSimulator, run_simulator_in_thread
from feeder_devkit.simulator.settings import SimulatorSettings

from feeder.settings import FeederSettings
from tests.e2e.feeder_process import run_feeder
from tests.e2e.harness import (
    busy_store,
    feeder_settings,
    now,
    running_feed,
    wait_caught_up,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(240)]


def paused_store() -> SimulatorSettings:
    return SimulatorSettings.model_validate(
        {"server": {"port": 0}, "traffic": {"seed": 16, "start_paused": True}}
    )


def whole_ms(moment: datetime) -> datetime:
    """The API stamps in milliseconds: a window starting mid-millisecond would miss its first."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def script_sessions(sim: ThreadedSimulator, count: int, rng: random.Random) -> dict[str, set[str]]:
    """Sessions with an entry, some with an exit and some flagged; the event types each owes."""

    def script(simulator: Simulator) -> dict[str, set[str]]:
        owed = {}
        for _ in range(count):
            session_id = simulator.create_session()
            types = {"session.created", "session.entered"}
            moment = simulator.clock()
            simulator.update_session(session_id, customer_last_entered_at=moment)
            if rng.random() < 0.5:
                types.add("session.exited")
                simulator.update_session(
                    session_id, customer_last_exited_at=moment + timedelta(milliseconds=5)
                )
            if rng.random() < 0.4:
                types.add("session.suspected_fraud_changed")
                simulator.update_session(session_id, suspected_fraud=True)
            owed[session_id] = types
        return owed

    return sim.call(script)


def pairs(owed: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(session_id, event_type) for session_id, types in owed.items() for event_type in types}


async def verify(settings: FeederSettings, start: datetime, end: datetime) -> tuple[int, Any]:
    result = await run_feeder(
        settings, "verify", "--from", start.isoformat(), "--to", end.isoformat(), "--json"
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def with_events_topic(settings: FeederSettings, topic: str) -> FeederSettings:
    kafka = settings.kafka
    topics = kafka.topics.model_copy(update={"events": topic})
    return settings.model_copy(update={"kafka": kafka.model_copy(update={"topics": topics})})


async def test_a_window_lost_to_a_fresh_topic_is_found_exactly_and_repaired_by_rewind(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    rng = random.Random(16)
    with run_simulator_in_thread(paused_store()) as sim:
        first = feeder_settings(sim.base_url, sim.token, kafka_bootstrap, tmp_path / "cp.sqlite3")
        window_start = whole_ms(now())
        lost = script_sessions(sim, 12, rng)
        async with running_feed(first) as app:
            await wait_caught_up(app, now())
        fresh = with_events_topic(first, f"events-fresh-{uuid.uuid4().hex[:8]}")
        kept = script_sessions(sim, 8, rng)
        async with running_feed(fresh) as app:
            await wait_caught_up(app, now())
        window_end = now()

        code, damaged = await verify(fresh, window_start, window_end)
        assert code == 1
        assert damaged["api"]["sessions"] == 20
        assert {(f["session_id"], f["type"]) for f in damaged["missing"]} == pairs(lost)
        assert damaged["wrong"] == []
        assert damaged["totals"]["found"] == len(pairs(kept))

        rewound = await run_feeder(
            fresh, "checkpoint", "rewind", "--to", window_start.isoformat(), "--forget-sessions"
        )
        assert rewound.returncode == 0, rewound.stderr
        assert "forgot 20 sessions" in rewound.stdout
        async with running_feed(fresh) as app:
            await wait_caught_up(app, now())

        code, repaired = await verify(fresh, window_start, window_end)
    assert code == 0, repaired["missing"]
    assert repaired["missing"] == repaired["wrong"] == []
    assert repaired["totals"]["found"] == len(pairs(lost)) + len(pairs(kept))
    # the kept sessions were forgotten too: their events went out again, with the same ids
    duplicates = {name: row["duplicates"] for name, row in repaired["by_type"].items()}
    assert duplicates == {
        name: Counter(event_type for _, event_type in pairs(kept))[name] for name in duplicates
    }


async def test_a_healthy_run_verifies_clean_and_its_checkpoint_cannot_move_under_it(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with run_simulator_in_thread(busy_store(seed=1616)) as sim:
        checkpoint = tmp_path / "cp.sqlite3"
        settings = feeder_settings(sim.base_url, sim.token, kafka_bootstrap, checkpoint)
        window_start = whole_ms(now())
        async with running_feed(settings) as app:
            # the traffic model runs while the feed sweeps, and the checkpoint commands try it
            shown, rewind, reset = await asyncio.gather(
                run_feeder(settings, "checkpoint", "show", "--json"),
                run_feeder(settings, "checkpoint", "rewind", "--to", window_start.isoformat()),
                run_feeder(settings, "checkpoint", "reset", "--yes"),
            )
            await wait_until(
                lambda: sim.call(lambda s: s.session_count) >= 60,
                timeout_s=60,
                what="the traffic model to create 60 sessions",
            )
            sim.call(lambda s: s.pause())
            window_end = now()
            await wait_caught_up(app, window_end)
            code, report = await verify(settings, window_start, window_end)
            assert app.sweeper is not None
            read_after_all = app.sweeper.live_read_at

    assert shown.returncode == 0, shown.stderr
    checkpoint = json.loads(shown.stdout)["checkpoint"]
    assert checkpoint["tracked_sessions"] > 0
    assert checkpoint["position"]["live"] > window_start.isoformat()
    for refused, action in ((rewind, "rewind"), (reset, "reset")):
        assert refused.returncode == 1
        assert f"refusing to {action}" in refused.stderr
        assert "stop it first" in refused.stderr
    # neither moved the running feed back: it went on reading to the end of the window
    assert read_after_all is not None
    assert read_after_all >= window_end

    assert code == 0, (report["missing"][:5], report["wrong"][:5])
    assert report["missing"] == report["wrong"] == []
    by_type = report["by_type"]
    for event_type in ("created", "entered", "exited", "suspected_fraud_changed"):
        assert by_type[f"session.{event_type}"]["found"] > 0, event_type
    assert report["api"]["sessions"] >= 60
