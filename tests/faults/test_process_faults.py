"""Faults that hit ``feeder run`` as a process: kill -9 again and again under live load, SIGTERM
during a page, a full disk under the checkpoint, a checkpoint corrupted and then deleted while
stopped. After each, the topic is checked against the simulator's ground truth."""

from __future__ import annotations

import asyncio
import random
import re
import resource
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from feeder_devkit.localkafka.broker import free_port
from feeder_devkit.simulator.server import ThreadedSimulator, run_simulator_in_thread

from tests.e2e.feeder_process import (
    KILLED_PAGE_S,
    load_settings_from,
    process_caught_up,
    run_env,
    samples,
    scrape,
    start_feeder,
)
from tests.e2e.harness import (
    PublishedEvent,
    assert_exactly_once,
    busy_store,
    live_gap_bound_s,
    now,
    published_events,
    timing,
    traffic_until,
    wait_until,
)
from tests.e2e.oracle import TOGGLE_FIELD as TOGGLES
from tests.e2e.oracle import Expectations, expectations
from tests.faults.tally import LONG, Tally, tally

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(600)]

Gaps = list[list[tuple[str, dict[str, str], float]]]


async def first_read(port: int, log: Path) -> datetime:
    """When a just-started feeder finished its first read (it sees the API again)."""
    await wait_until(
        lambda: scrape(port).get("feeder_read_duration_seconds_count", 0) > 0,
        timeout_s=60,
        what=f"the feeder's first read (its output: {log})",
    )
    return now()


async def finish(
    sim: ThreadedSimulator,
    process: subprocess.Popen[bytes],
    checkpoint: Path,
    port: int,
    gaps: Gaps,
) -> int:
    """Stop the traffic, let the running feeder catch up, SIGTERM it; its exit code."""
    sim.call(lambda s: s.pause())
    await wait_until(lambda: sim.call(lambda s: s.held_changes) == 0, timeout_s=30, what="held")
    paused_at = now()
    await wait_until(
        lambda: process_caught_up(checkpoint, port, paused_at),
        timeout_s=90,
        what="the feeder to catch up",
    )
    gaps.append(samples(port))
    process.send_signal(signal.SIGTERM)
    return process.wait(30)


async def last_run(
    sim: ThreadedSimulator,
    env: dict[str, str],
    log: Path,
    *,
    gaps: Gaps,
    blind: list[tuple[datetime, datetime]],
    blind_from: datetime,
) -> int:
    """A last feeder, blind from ``blind_from`` until its first read, through more traffic
    until it caught up and stopped on SIGTERM; its exit code."""
    port = int(env["FEEDER_OBSERVABILITY__PORT"])
    process = start_feeder(env, log)
    try:
        blind.append((blind_from, await first_read(port, log)))
        await traffic_until(sim, 100)
        return await finish(sim, process, Path(env["FEEDER_CHECKPOINT__PATH"]), port, gaps)
    finally:
        if process.poll() is None:
            process.kill()


async def kill_again_and_again(
    env: dict[str, str], log: Path, *, kills: int, chance: random.Random, opened: datetime
) -> tuple[Gaps, list[tuple[datetime, datetime]], datetime]:
    """Start ``feeder run``, let it read, SIGKILL it at a random point of its work; ``kills``
    times. The live-gap samples, the blind spans (from the page a kill cut short until the next
    process read), and when the last kill was."""
    port = int(env["FEEDER_OBSERVABILITY__PORT"])
    gaps: Gaps = []
    blind: list[tuple[datetime, datetime]] = []
    killed_at = opened + timedelta(seconds=KILLED_PAGE_S)
    for _ in range(kills):
        process = start_feeder(env, log)
        try:
            seeing = await first_read(port, log)
            blind.append((killed_at - timedelta(seconds=KILLED_PAGE_S), seeing))
            # the fault: a kill at a random point of the feeder's work, not a wait
            await asyncio.sleep(chance.uniform(0.05, 1.5))
            gaps.append(samples(port))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        killed_at = now()
        assert process.returncode == -signal.SIGKILL
    return gaps, blind, killed_at


async def judged(
    sim: ThreadedSimulator,
    *,
    env: dict[str, str],
    gaps: Gaps,
    blind: list[tuple[datetime, datetime]],
    bootstrap: str,
    scenario: str,
) -> tuple[Tally, list[PublishedEvent], Expectations]:
    transitions = sim.call(lambda s: s.ground_truth())
    versions = sim.call(lambda s: s.versions())
    gap_s = max(live_gap_bound_s(g) for g in gaps)
    bound = timing(load_settings_from(env), gap_s)
    expect = expectations(transitions, versions, bound, blind_spans=blind)
    events = await published_events(bootstrap, env["FEEDER_KAFKA__TOPICS__EVENTS"])
    return tally(scenario, events, expect), events, expect


async def test_kill_9_again_and_again_under_live_load_loses_nothing(
    kafka_bootstrap: str, tmp_path: Path, fault_report: list[Tally | str]
) -> None:
    kills = 100 if LONG else 3
    chance = random.Random(41)
    log, checkpoint, port = tmp_path / "feeder.log", tmp_path / "cp.sqlite3", free_port()
    with run_simulator_in_thread(busy_store(seed=41)) as sim:
        opened = now()  # traffic starts: the feed is blind until its first read
        env = run_env(sim.base_url, sim.token, kafka_bootstrap, checkpoint, port)
        gaps, blind, killed_at = await kill_again_and_again(
            env, log, kills=kills, chance=chance, opened=opened
        )
        exit_code = await last_run(
            sim,
            env,
            log,
            gaps=gaps,
            blind=blind,
            blind_from=killed_at - timedelta(seconds=KILLED_PAGE_S),
        )
        result, events, expect = await judged(
            sim,
            env=env,
            gaps=gaps,
            blind=blind,
            bootstrap=kafka_bootstrap,
            scenario=f"kill -9 x{kills} under live load",
        )
    fault_report.append(result)
    assert exit_code == 0, log.read_text()[-3000:]
    assert (result.lost, result.new_id) == (0, 0), result.line()
    assert_exactly_once(events, expect, first_times=False, resends_allowed=True)


async def test_sigterm_during_a_page_finishes_it_and_re_sends_nothing(
    kafka_bootstrap: str, tmp_path: Path, fault_report: list[Tally | str]
) -> None:
    stops = 20 if LONG else 2
    log, checkpoint, port = tmp_path / "feeder.log", tmp_path / "cp.sqlite3", free_port()
    with run_simulator_in_thread(busy_store(seed=43)) as sim:
        opened = now()
        # small pages: a SIGTERM almost always lands while a page is in flight
        env = {
            **run_env(sim.base_url, sim.token, kafka_bootstrap, checkpoint, port),
            "FEEDER_API__PAGE_SIZE": "7",
        }
        gaps: Gaps = []
        blind: list[tuple[datetime, datetime]] = []
        stopped_at = opened
        for _ in range(stops):
            process = start_feeder(env, log)
            blind.append((stopped_at, await first_read(port, log)))
            published = scrape(port).get("feeder_events_published_total", 0)
            await wait_until(
                lambda published=published: (
                    scrape(port).get("feeder_events_published_total", 0) > published + 10
                ),
                timeout_s=60,
                what="events published",
            )
            gaps.append(samples(port))
            stopped_at = now()  # no new page is read from here on
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0, log.read_text()[-3000:]
        exit_code = await last_run(sim, env, log, gaps=gaps, blind=blind, blind_from=stopped_at)
        result, events, expect = await judged(
            sim,
            env=env,
            gaps=gaps,
            blind=blind,
            bootstrap=kafka_bootstrap,
            scenario=f"SIGTERM x{stops} during a page",
        )
    fault_report.append(result)
    assert exit_code == 0
    assert (result.lost, result.same_id, result.new_id) == (0, 0, 0), result.line()
    assert_exactly_once(events, expect, first_times=False)


async def test_a_full_disk_under_the_checkpoint_is_retried_and_the_feed_recovers(
    kafka_bootstrap: str, tmp_path: Path, fault_report: list[Tally | str]
) -> None:
    log, checkpoint, port = tmp_path / "feeder.log", tmp_path / "cp.sqlite3", free_port()
    with run_simulator_in_thread(busy_store(seed=45)) as sim:
        started_at = now()
        env = {
            **run_env(sim.base_url, sim.token, kafka_bootstrap, checkpoint, port),
            "FEEDER_SWEEP__ERROR_BACKOFF_MAX_S": "2",
        }
        process = start_feeder(env, log, file_size_limit_bytes=256 * 1024)
        try:
            await wait_until(
                lambda: (
                    scrape(port).get(
                        "feeder_sweep_failures_total[('error', 'CheckpointUnavailableError')]", 0
                    )
                    >= 2
                ),
                timeout_s=90,
                what=f"the checkpoint to fill its disk (its output: {log})",
            )
            assert "cannot write the checkpoint at" in log.read_text()
            assert "FEEDER_CHECKPOINT__PATH" in log.read_text()
            assert process.poll() is None, "the feeder died of a full disk"
            # space returns
            unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
            resource.prlimit(process.pid, resource.RLIMIT_FSIZE, unlimited)
            reads = scrape(port).get("feeder_read_duration_seconds_count", 0)
            await wait_until(
                lambda: scrape(port).get("feeder_read_duration_seconds_count", 0) > reads,
                timeout_s=60,
                what="a read after space returned",
            )
            # while commits failed the sweep backed off: what changed and changed back then
            # may have gone unseen
            blind = [(started_at, now())]
            await traffic_until(sim, 100)
            gaps: Gaps = []
            exit_code = await finish(sim, process, checkpoint, port, gaps)
        finally:
            if process.poll() is None:
                process.kill()
        with sqlite3.connect(checkpoint) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # what was published while commits failed is re-sent (same ids) once they succeed
        result, events, expect = await judged(
            sim,
            env=env,
            gaps=gaps,
            blind=blind,
            bootstrap=kafka_bootstrap,
            scenario="disk full under the SQLite checkpoint, then space returns",
        )
    fault_report.append(result)
    assert exit_code == 0, log.read_text()[-3000:]
    assert (result.lost, result.new_id) == (0, 0), result.line()
    assert_exactly_once(events, expect, first_times=False, resends_allowed=True)


def run_once(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feeder", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_a_corrupted_then_deleted_checkpoint_is_refused_and_recovered_from_heartbeats(
    kafka_bootstrap: str, tmp_path: Path, fault_report: list[Tally | str]
) -> None:
    log, checkpoint, port = tmp_path / "feeder.log", tmp_path / "cp.sqlite3", free_port()
    with run_simulator_in_thread(busy_store(seed=47)) as sim:
        opened = now()
        env = {
            **run_env(sim.base_url, sim.token, kafka_bootstrap, checkpoint, port),
            "FEEDER_HEARTBEAT__INTERVAL_S": "0.3",
        }
        first = start_feeder(env, log)
        blind = [(opened, await first_read(port, log))]
        await wait_until(
            lambda: (
                scrape(port).get("feeder_heartbeats_published_total", 0) >= 3
                and scrape(port).get("feeder_events_published_total", 0) >= 40
            ),
            timeout_s=60,
            what="events and heartbeats",
        )
        gaps: Gaps = [samples(port)]
        stopped_at = now()  # no new page is read from here on
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
        # while it is stopped, the checkpoint is damaged; the store keeps changing meanwhile
        for side in ("-wal", "-shm"):
            checkpoint.with_name(checkpoint.name + side).unlink(missing_ok=True)
        checkpoint.write_bytes(b"this is not a checkpoint\n" * 400)
        restarted = {k: v for k, v in env.items() if k != "FEEDER_SWEEP__START_POSITION"}
        corrupted = run_once(restarted)
        assert corrupted.returncode == 1, corrupted.stdout + corrupted.stderr
        assert "FEEDER_CHECKPOINT__PATH" in corrupted.stderr, corrupted.stderr
        checkpoint.unlink()  # the operator moves the broken file aside
        deleted = run_once(restarted)
        assert deleted.returncode == 1, deleted.stdout + deleted.stderr
        found = re.search(r"FEEDER_SWEEP__START_POSITION=(\S+Z)", deleted.stderr)
        assert found is not None, deleted.stderr
        resume = {**restarted, "FEEDER_SWEEP__START_POSITION": found.group(1)}
        exit_code = await last_run(sim, resume, log, gaps=gaps, blind=blind, blind_from=stopped_at)
        result, _, expect = await judged(
            sim,
            env=env,
            gaps=gaps,
            blind=blind,
            bootstrap=kafka_bootstrap,
            scenario="checkpoint corrupted, then deleted while stopped; re-swept from the last "
            "heartbeat",
        )
    fault_report.append(result)
    assert exit_code == 0, log.read_text()[-3000:]
    # Re-sweeping a window re-publishes it: duplicates are expected. Without the lost state a
    # fraud or status value is judged against none: a flag cleared, or a status back to one
    # seen before, while the checkpoint was missing has no event (the README says so).
    moments_lost = [t for t in result.missing if t.kind not in TOGGLES]
    assert moments_lost == [], result.line()
    assert expect.unexcusable == []
