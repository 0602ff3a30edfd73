"""The whole pipeline against the simulator's ground truth, one test per traffic shape that
production has: busy stores, hot sessions, late commits, writers with slow clocks, a lagging
replica, ties of hundreds of sessions on one millisecond. Real HTTP, real Kafka, real SQLite.

Every observable transition must be published exactly once with the right time, nothing
invented; what a poller could not see is excused only within bounds the feed's configuration
sets (:mod:`tests.e2e.oracle`), counted, capped per test and reported at the end of the run.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from feeder_devkit.simulator.server import run_simulator_in_thread
from feeder_devkit.simulator.settings import SimulatorSettings

from feeder.runtime.feed import FeedApp
from tests.e2e.harness import (
    busy_store,
    feed_expectations,
    feeder_settings,
    now,
    published_events,
    quiesce,
    running_feed,
    traffic_until,
    wait_caught_up,
    wait_until,
)
from tests.e2e.tally import Tally, judge

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(240)]


async def run_shape(
    simulator: SimulatorSettings,
    kafka_bootstrap: str,
    tmp_path: Path,
    report: list[str],
    *,
    min_required: int,
    max_excused_share: float,
    transitions: int = 400,
    page_size: int = 200,
    **sweep: object,
) -> tuple[FeedApp, Tally]:
    with run_simulator_in_thread(simulator) as sim:
        settings = feeder_settings(
            sim.base_url,
            sim.token,
            kafka_bootstrap,
            tmp_path / "cp.sqlite3",
            page_size=page_size,
            **sweep,
        )
        async with running_feed(settings) as app:
            await traffic_until(sim, transitions)
            await quiesce(sim, app)
        expect = feed_expectations(sim, settings)
    events = await published_events(kafka_bootstrap, settings.kafka.topics.events)
    result = judge(
        "feed",
        events,
        expect,
        min_required=min_required,
        max_excused_share=max_excused_share,
    )
    report.append(result.line())
    return app, result


async def test_a_busy_store_in_small_pages(
    kafka_bootstrap: str, tmp_path: Path, ground_truth_report: list[str]
) -> None:
    # small pages: many sessions tied on updatedAt straddle page boundaries
    _, result = await run_shape(
        busy_store(seed=7),
        kafka_bootstrap,
        tmp_path,
        ground_truth_report,
        page_size=7,
        min_required=250,  # of the 400 transitions it waits for
        max_excused_share=0.15,
    )
    kinds = result.by_type
    assert {"session.created", "session.entered", "session.exited"} <= set(kinds)
    assert kinds["session.suspected_fraud_changed"] > 0


async def test_hot_sessions_that_change_faster_than_the_poll(
    kafka_bootstrap: str, tmp_path: Path, ground_truth_report: list[str]
) -> None:
    simulator = busy_store(seed=12, traffic={"hot_share": 0.3, "hot_interval_ms": 80})
    _, result = await run_shape(
        simulator,
        kafka_bootstrap,
        tmp_path,
        ground_truth_report,
        min_required=250,  # of the 400 transitions it waits for
        max_excused_share=0.15,
    )
    assert result.by_type["session.entered"] > 0


async def test_late_commits_from_a_fraction_of_a_pass_to_near_the_lookback(
    kafka_bootstrap: str, tmp_path: Path, ground_truth_report: list[str]
) -> None:
    # 0.2 s late: before the fastest re-read pass (0.5 s); up to 3.5 s: the lookback pass (4 s)
    simulator = busy_store(
        seed=9, late_visible_share=0.2, late_visible_delay_s=0.2, late_visible_delay_max_s=3.5
    )
    app, _ = await run_shape(
        simulator,
        kafka_bootstrap,
        tmp_path,
        ground_truth_report,
        min_required=250,  # of the 400 transitions it waits for
        max_excused_share=0.15,
    )
    late = app.metrics.registry.get_sample_value(
        "feeder_record_lateness_seconds_count", {"sweep": "reread_1s"}
    )
    assert late, "the re-read passes found no late commit"


async def test_writers_with_slow_clocks_stamp_versions_older_than_ones_served(
    kafka_bootstrap: str, tmp_path: Path, ground_truth_report: list[str]
) -> None:
    simulator = busy_store(seed=14, traffic={"writer_skews_ms": (0, -150, -1200)})
    app, _ = await run_shape(
        simulator,
        kafka_bootstrap,
        tmp_path,
        ground_truth_report,
        min_required=250,  # of the 400 transitions it waits for
        max_excused_share=0.3,  # a slow writer's stamp makes the versions around it short-lived
        # a stamp 1.2 s slow on a change the traffic model made late is up to ~6 s old when it
        # becomes visible: a lookback past that makes those versions required, not excused
        lookback_s=8.0,
    )
    regressed = app.metrics.registry.get_sample_value("feeder_records_regressed_total")
    assert regressed, "no version with an older updatedAt was applied"


async def test_a_lagging_replica_replaying_old_versions_publishes_nothing_for_them(
    kafka_bootstrap: str, tmp_path: Path, ground_truth_report: list[str]
) -> None:
    # Sessions that change every few seconds: a replayed version stays within the history the
    # feed keeps (FINGERPRINT_HISTORY versions).
    simulator = busy_store(seed=15, traffic={"speedup": 60, "new_sessions_per_s": 20})
    with run_simulator_in_thread(simulator) as sim:
        settings = feeder_settings(
            sim.base_url, sim.token, kafka_bootstrap, tmp_path / "cp.sqlite3"
        )
        async with running_feed(settings) as app:
            await traffic_until(sim, 200)
            sim.call(lambda s: s.pause())
            frozen_at = now()
            await wait_until(  # a live read after the pause: the feed has seen every version
                lambda: (
                    app.sweeper is not None
                    and app.sweeper.live_read_at is not None
                    and app.sweeper.live_read_at > frozen_at
                ),
                timeout_s=30,
                what="a live read after the pause",
            )
            sim.call(lambda s: s.freeze_replica())
            faults = sim.call(lambda s: s.faults)
            sim.call(lambda s: s.set_faults(faults.model_copy(update={"replica_share": 0.5})))
            sim.call(lambda s: s.resume())
            replica_from = now()
            # the re-read passes now read the frozen stamps, half the time from the replica
            await wait_until(
                lambda: app.sweeper is not None and app.sweeper.position.oldest > frozen_at,
                timeout_s=60,
                what="every pass to re-read past the freeze",
            )
            sim.call(lambda s: s.set_faults(faults))
            replica_spans = [(replica_from, now())]  # new versions may hide behind the replica
            await quiesce(sim, app)
            replayed = sum(
                sample.value
                for family in app.metrics.registry.collect()
                for sample in family.samples
                if sample.name == "feeder_records_replayed_total"
            )
        expect = feed_expectations(sim, settings, hidden_spans=replica_spans)
    events = await published_events(kafka_bootstrap, settings.kafka.topics.events)
    assert replayed > 0, "the replica served no old version"
    result = judge(
        "feed",
        events,
        expect,
        min_required=150,  # of the 200 transitions it waits for, and more
        max_excused_share=0.15,
    )
    ground_truth_report.append(f"{result.line()}; {replayed:.0f} replayed records ignored")


async def test_hundreds_of_sessions_tied_on_one_millisecond(
    kafka_bootstrap: str, tmp_path: Path, ground_truth_report: list[str]
) -> None:
    with run_simulator_in_thread(busy_store(seed=16)) as sim:
        sim.call(lambda s: s.pause())
        tie = now() - timedelta(seconds=1)
        ids = [sim.call(lambda s: s.create_session(updated_at=tie)) for _ in range(300)]
        settings = feeder_settings(
            sim.base_url, sim.token, kafka_bootstrap, tmp_path / "cp.sqlite3", page_size=7
        )
        async with running_feed(settings) as app:
            await wait_caught_up(app, now())
            entered = now()
            for session_id in ids:  # 300 entries in one millisecond, on one updatedAt
                sim.call(
                    lambda s, sid=session_id: s.update_session(
                        sid, customer_last_entered_at=entered, updated_at=entered
                    )
                )
            await wait_caught_up(app, now())
        expect = feed_expectations(sim, settings)
    events = await published_events(kafka_bootstrap, settings.kafka.topics.events)
    result = judge(
        "feed",
        events,
        expect,
        min_required=600,  # 300 sessions created and entered; nothing may be excused
        max_excused_share=0.0,
    )
    ground_truth_report.append(result.line())
    assert result.by_type == {"session.created": 300, "session.entered": 300}


async def test_a_hot_sessions_entry_and_flag_are_published_while_it_keeps_changing(
    kafka_bootstrap: str, tmp_path: Path, ground_truth_report: list[str]
) -> None:
    """Causality, not a clock: each event is in Kafka before the session stops changing, and
    the flag is stamped with the first version served that showed it."""
    with run_simulator_in_thread(busy_store(seed=17)) as sim:
        sim.call(lambda s: s.pause())
        session_id = sim.call(lambda s: s.create_session())
        settings = feeder_settings(
            sim.base_url, sim.token, kafka_bootstrap, tmp_path / "cp.sqlite3"
        )
        topic = settings.kafka.topics.events
        changing = asyncio.Event()

        async def keep_changing() -> None:
            visitors = 0
            while changing.is_set():  # a writer changing the session every 50 ms
                visitors += 1
                sim.call(lambda s, v=visitors: s.update_session(session_id, visitors=v))
                await asyncio.sleep(0.05)

        async with running_feed(settings) as app:
            changing.set()
            changer = asyncio.create_task(keep_changing())
            try:
                sim.call(lambda s: s.update_session(session_id, customer_last_entered_at=now()))
                sim.call(lambda s: s.update_session(session_id, suspected_fraud=True))
                for wanted in ("session.entered", "session.suspected_fraud_changed"):
                    found: list[object] = []
                    while not found:
                        assert not changer.done(), "the session stopped changing first"
                        events = await published_events(kafka_bootstrap, topic)
                        found = [e for e in events if e.type == wanted]
                    assert changing.is_set()  # still changing when its event was in Kafka
            finally:
                changing.clear()
                await changer
            await wait_caught_up(app, now())
        expect = feed_expectations(sim, settings)
    events = await published_events(kafka_bootstrap, topic)
    result = judge(
        "feed",
        events,
        expect,
        min_required=3,  # created, entered, flagged; nothing may be excused
        max_excused_share=0.0,
    )
    ground_truth_report.append(result.line())


async def test_fraud_topic_carries_every_fraud_event_and_nothing_else(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with run_simulator_in_thread(busy_store(seed=11)) as sim:
        settings = feeder_settings(
            sim.base_url, sim.token, kafka_bootstrap, tmp_path / "cp.sqlite3"
        )
        async with running_feed(settings) as app:
            await traffic_until(sim, 300)
            await quiesce(sim, app)
    everything = await published_events(kafka_bootstrap, settings.kafka.topics.events)
    fraud = await published_events(kafka_bootstrap, settings.kafka.topics.fraud)
    expected = {e.id for e in everything if e.type == "session.suspected_fraud_changed"}
    assert expected, "no fraud flips happened"
    assert {e.id for e in fraud} == expected
    for event in fraud:
        assert event.type == "session.suspected_fraud_changed"
        assert event.record.key == event.session_id.encode()
