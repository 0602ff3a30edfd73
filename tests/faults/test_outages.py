"""Faults around a running feed: its broker stopped and restarted, its host's clock jumping
forward and back. After each, the topic is checked against the simulator's ground truth."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from feeder_devkit.localkafka import LocalKafkaBroker
from feeder_devkit.simulator.server import run_simulator_in_thread

from feeder.core.timestamps import utc_now
from feeder.runtime.feed import FeedApp
from tests.e2e.feeder_process import KILLED_PAGE_S
from tests.e2e.harness import (
    busy_store,
    feed_expectations,
    feeder_settings,
    now,
    published_events,
    quiesce,
    read_again_since,
    running_feed,
    traffic_until,
    wait_until,
)
from tests.e2e.tally import Tally, judge
from tests.faults.scale import LONG
from tests.worker_groups import RESTARTABLE_KAFKA

# Timeout: about three times the longest test here on the 2-core CI machine (32 s); the long
# form (tests/faults/scale.py) runs for minutes.
pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(600 if LONG else 120)]


async def readiness(app: FeedApp) -> int:
    """``/readyz``'s status (asked without blocking the loop the feed's server runs on)."""
    async with httpx.AsyncClient(timeout=2) as client:
        return (await client.get(f"http://127.0.0.1:{app.metrics_port}/readyz")).status_code


async def wait_for_readiness(app: FeedApp, status: int, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while await readiness(app) != status:
        if loop.time() > deadline:
            raise AssertionError(f"/readyz did not answer {status} within {timeout_s} s")
        await asyncio.sleep(0.2)


def sweep_failures(app: FeedApp) -> float:
    return sum(
        sample.value
        for family in app.metrics.registry.collect()
        for sample in family.samples
        if sample.name == "feeder_sweep_failures_total"
    )


# A producer that missed its deadline while the broker was down is abandoned, not reused
# (aiokafka #1101, feeder/sink/kafka.py); its sockets are closed only when it is collected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@RESTARTABLE_KAFKA
async def test_a_broker_outage_is_waited_out_with_the_checkpoint_kept_and_readyz_down(
    abandoned_producers_collected: None,
    restartable_kafka: LocalKafkaBroker,
    tmp_path: Path,
    fault_report: list[Tally | str],
) -> None:
    outage_s = 60.0 if LONG else 12.0
    broker = restartable_kafka
    broker.start()
    with run_simulator_in_thread(busy_store(seed=51)) as sim:
        settings = feeder_settings(
            sim.base_url,
            sim.token,
            broker.bootstrap_servers,
            tmp_path / "cp.sqlite3",
        )
        settings = settings.model_copy(
            update={
                "kafka": settings.kafka.model_copy(update={"send_timeout_s": 3.0}),
                "sweep": settings.sweep.model_copy(update={"error_backoff_max_s": 4.0}),
            }
        )
        async with running_feed(settings) as app:
            await traffic_until(sim, 100)
            await wait_for_readiness(app, 200, timeout_s=30)
            assert app.sweeper is not None
            before = app.sweeper.position
            stopped_at = now()
            await asyncio.to_thread(broker.stop)
            stopped = asyncio.get_running_loop().time()
            await wait_for_readiness(app, 503, timeout_s=30)
            assert sweep_failures(app) > 0
            assert app.sweeper.position.live >= before.live  # the checkpoint is kept
            remaining_s = outage_s - (asyncio.get_running_loop().time() - stopped)
            await asyncio.sleep(max(0.0, remaining_s))  # the fault: the outage lasts this
            assert await readiness(app) == 503
            await asyncio.to_thread(broker.start)
            restarted_at = now()
            await wait_for_readiness(app, 200, timeout_s=90)
            # pages read during the outage were never published: what they showed and
            # what changed back before the feed read and delivered again went unseen
            blind = [
                (
                    stopped_at - timedelta(seconds=KILLED_PAGE_S),
                    await read_again_since(app, restarted_at),
                )
            ]
            await traffic_until(sim, 100)
            await quiesce(sim, app)
        expect = feed_expectations(sim, settings, blind_spans=blind)
    events = await published_events(broker.bootstrap_servers, settings.kafka.topics.events)
    # pages Kafka took but did not acknowledge before the outage are sent again, same ids
    result = judge(
        f"broker stopped for {outage_s:g} s, then restarted",
        events,
        expect,
        first_times=False,
        resends_allowed=True,
        min_required=300,  # the feed backs off while the broker is down
        max_excused_share=0.15,  # 2.5-2.8 % in three runs on the CI machine
    )
    fault_report.append(result)


class JumpingClock:
    """The feeder host's clock, off by ``offset`` from the true time."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.offset


async def test_the_hosts_clock_jumping_forward_and_back_loses_and_invents_nothing(
    kafka_bootstrap: str, tmp_path: Path, fault_report: list[Tally | str]
) -> None:
    jumps = (timedelta(seconds=45), timedelta(seconds=-45), timedelta(0))
    clock = JumpingClock()
    with run_simulator_in_thread(busy_store(seed=53)) as sim:
        settings = feeder_settings(
            sim.base_url, sim.token, kafka_bootstrap, tmp_path / "cp.sqlite3"
        )
        jumped: list[tuple[datetime, datetime]] = []
        async with running_feed(settings, clock=clock) as app:
            for jump in jumps * (5 if LONG else 1):
                await traffic_until(sim, 80)
                jumped_at = now()
                clock.offset = jump
                ticks = app.sweeper.live_read_at if app.sweeper else None
                await wait_until(
                    lambda ticks=ticks: (
                        app.sweeper is not None and app.sweeper.live_read_at != ticks
                    ),
                    timeout_s=30,
                    what="a live read on the jumped clock",
                )
                # the fault window: from the jump until a live read on the new clock finished
                jumped.append((jumped_at, now()))
            await traffic_until(sim, 80)
            clock.offset = timedelta(0)
            await quiesce(sim, app)
        expect = feed_expectations(sim, settings, hidden_spans=jumped)
    events = await published_events(kafka_bootstrap, settings.kafka.topics.events)
    result = judge(
        "host clock jumps +45 s, -45 s, back",
        events,
        expect,
        first_times=False,
        min_required=250,  # of the 320 transitions it waits for
        max_excused_share=0.15,
    )
    fault_report.append(result)
