"""``feeder run`` as a real process: killed with SIGKILL mid-run it loses nothing and re-sends
only with the same ids; SIGTERM stops it cleanly with exit code 0."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import pytest
from feeder_devkit.localkafka.broker import free_port
from feeder_devkit.simulator.server import run_simulator_in_thread

from tests.e2e.feeder_process import (
    KILLED_PAGE_S,
    load_settings_from,
    process_caught_up,
    run_env,
    scrape,
    start_feeder,
)
from tests.e2e.harness import (
    busy_store,
    now,
    published_events,
    timing,
    traffic_until,
    wait_until,
)
from tests.e2e.oracle import expectations
from tests.e2e.tally import judge

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(120)]


async def test_sigkill_mid_run_loses_nothing_and_sigterm_exits_cleanly(
    kafka_bootstrap: str, tmp_path: Path, ground_truth_report: list[str]
) -> None:
    log = tmp_path / "feeder.log"
    checkpoint = tmp_path / "cp.sqlite3"
    with run_simulator_in_thread(busy_store(seed=33)) as sim:
        port = free_port()
        env = run_env(sim.base_url, sim.token, kafka_bootstrap, checkpoint, port)
        opened = now()  # the traffic runs: until the first feeder reads, nothing is seen
        first = start_feeder(env, log)
        try:
            await wait_until(
                lambda: scrape(port).get("feeder_read_duration_seconds_count", 0) > 0,
                timeout_s=60,
                what=f"the first feeder's first read ({log.read_text()[-2000:]})",
            )
            first_seeing_at = now()
            await wait_until(
                lambda: scrape(port).get("feeder_events_published_total", 0) >= 40,
                timeout_s=60,
                what=f"the first feeder to publish events ({log.read_text()[-2000:]})",
            )
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        # What it fetched in its last moments may never have been committed: it is lost to it.
        killed_at = now()
        await traffic_until(sim, 50)  # changes keep happening while no feeder runs
        second = start_feeder(env, log)
        try:
            await wait_until(
                lambda: scrape(port).get("feeder_read_duration_seconds_count", 0) > 0,
                timeout_s=60,
                what=f"the restarted feeder's first read ({log.read_text()[-2000:]})",
            )
            seeing_again_at = now()
            await traffic_until(sim, 100)
            sim.call(lambda s: s.pause())
            await wait_until(
                lambda: sim.call(lambda s: s.held_changes) == 0, timeout_s=30, what="held"
            )
            paused_at = now()
            await wait_until(
                lambda: process_caught_up(checkpoint, port, paused_at),
                timeout_s=60,
                what="the restarted feeder to catch up",
            )
            second.send_signal(signal.SIGTERM)
            exit_code = second.wait(30)
        finally:
            if second.poll() is None:
                second.kill()
                second.wait(10)
        transitions = sim.call(lambda s: s.ground_truth())
        versions = sim.call(lambda s: s.versions())
    assert first.returncode == -signal.SIGKILL
    assert exit_code == 0, log.read_text()[-3000:]
    settings = load_settings_from(env)
    blind = [
        (opened, first_seeing_at),
        (killed_at - timedelta(seconds=KILLED_PAGE_S), seeing_again_at),
    ]
    expect = expectations(transitions, versions, timing(settings), blind_spans=blind)
    events = await published_events(kafka_bootstrap, env["FEEDER_KAFKA__TOPICS__EVENTS"])
    result = judge(
        "kill -9 once, then SIGTERM",
        events,
        expect,
        first_times=False,
        resends_allowed=True,
        min_required=200,  # no feeder reads between the kill and the restart
        max_excused_share=0.15,  # 2.6-4.7 % in three runs on the CI machine
    )
    ground_truth_report.append(result.line())
