"""The whole pipeline against the simulator's ground truth: real HTTP, real Kafka, real SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from feeder.simulator.server import run_simulator_in_thread
from tests.e2e.harness import (
    assert_feed_matches_ground_truth,
    busy_store,
    feeder_settings,
    now,
    published_events,
    running_feed,
    wait_caught_up,
)

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(240)]


async def test_every_lasting_transition_has_exactly_one_event_and_no_event_is_invented(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with run_simulator_in_thread(busy_store(seed=7)) as sim:
        # small pages: many sessions tied on updatedAt straddle page boundaries
        settings = feeder_settings(
            sim.base_url, sim.token, kafka_bootstrap, tmp_path / "cp.sqlite3", page_size=7
        )
        async with running_feed(settings) as app:
            await asyncio.sleep(5)  # the traffic model runs while the feed sweeps
            sim.call(lambda s: s.pause())
            paused_at = now()
            await wait_caught_up(app, paused_at)
        transitions = sim.call(lambda s: s.ground_truth())
    events = await published_events(kafka_bootstrap, settings.kafka.topics.events)

    assert len(transitions) > 100, "the traffic model produced too little to test"
    kinds = assert_feed_matches_ground_truth(events, transitions)
    assert {"session.created", "session.entered", "session.exited"} <= set(kinds)
    assert kinds["session.suspected_fraud_changed"] > 0


async def test_fraud_topic_carries_every_fraud_event_and_nothing_else(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with run_simulator_in_thread(busy_store(seed=11)) as sim:
        settings = feeder_settings(
            sim.base_url, sim.token, kafka_bootstrap, tmp_path / "cp.sqlite3"
        )
        async with running_feed(settings) as app:
            await asyncio.sleep(3)
            sim.call(lambda s: s.pause())
            await wait_caught_up(app, now())
    everything = await published_events(kafka_bootstrap, settings.kafka.topics.events)
    fraud = await published_events(kafka_bootstrap, settings.kafka.topics.fraud)
    expected = {e.id for e in everything if e.type == "session.suspected_fraud_changed"}
    assert expected, "no fraud flips happened"
    assert {e.id for e in fraud} == expected
    for event in fraud:
        assert event.type == "session.suspected_fraud_changed"
        assert event.record.key == event.session_id.encode()
