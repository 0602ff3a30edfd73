"""Replicas sharing feeds (``FEEDER_REPLICAS__ENABLED``), as processes on one real broker: each
feed runs on exactly one replica; a replica killed with SIGKILL has its feeds taken over by the
others within a session timeout plus a rebuild, and every feed's topic still holds every
ground-truth transition exactly once (exactly-once delivery, read_committed)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from feeder_devkit.localkafka.broker import free_port
from feeder_devkit.simulator.server import ThreadedSimulator, run_simulator_in_thread

from tests.e2e.feeder_process import KILLED_PAGE_S, load_settings_from, run_env, samples
from tests.e2e.feeder_process import start_feeder as start_replica
from tests.e2e.harness import (
    busy_store,
    now,
    published_events,
    timing,
    traffic_until,
    wait_until,
)
from tests.e2e.oracle import expectations
from tests.e2e.tally import Tally, judge
from tests.worker_groups import MANY_PROCESSES

# Timeout: about three times the longest test here on the 2-core CI machine (30 s).
pytestmark = [pytest.mark.kafka, MANY_PROCESSES, pytest.mark.asyncio, pytest.mark.timeout(120)]

SESSION_TIMEOUT_S = 6.0
Samples = list[tuple[str, dict[str, str], float]]


def feed_metric(metrics: Samples, name: str, feed: str, **labels: str) -> float:
    return sum(
        value
        for sample_name, sample_labels, value in metrics
        if sample_name == name
        and sample_labels.get("feed") == feed
        and all(sample_labels.get(k) == v for k, v in labels.items())
    )


class Replicas:
    """Replica processes of one config, each on its own "host" (cache folder, port)."""

    def __init__(self, env: dict[str, str], tmp_path: Path, feeds: list[str]) -> None:
        self.env = env
        self.tmp_path = tmp_path
        self.feeds = feeds
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str) -> None:
        port = free_port()
        host = self.tmp_path / name
        host.mkdir(exist_ok=True)
        env = {
            **self.env,
            "FEEDER_REPLICAS__REPLICA_NAME": name,
            "FEEDER_OBSERVABILITY__PORT": str(port),
            "FEEDER_CHECKPOINT__PATH": str(host / "cache.sqlite3"),
        }
        self.ports[name] = port
        self.processes[name] = start_replica(env, self.log(name))

    def log(self, name: str) -> Path:
        return self.tmp_path / f"{name}.log"

    def alive(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is None]

    def metrics(self, timeout_s: float = 60) -> dict[str, Samples]:
        """Every live replica's metrics, scraped now. A replica that does not answer (one busy
        taking feeds over can be slow to) is asked again: a missing answer is not an empty one."""
        deadline = time.monotonic() + timeout_s
        scraped: dict[str, Samples] = {}
        for name in self.alive():
            while not (found := samples(self.ports[name])):
                exit_code = self.processes[name].poll()
                if exit_code is not None:
                    raise AssertionError(
                        f"replica {name} exited with {exit_code}: "
                        f"{self.log(name).read_text()[-2000:]}"
                    )
                if time.monotonic() > deadline:
                    raise AssertionError(f"replica {name} served no metrics for {timeout_s} s")
                time.sleep(0.2)
            scraped[name] = found
        return scraped

    def fences(self, metrics: dict[str, Samples]) -> float:
        """Feeds fenced so far, over the live replicas (each a restart of a feed elsewhere)."""
        return sum(
            value
            for replica in metrics.values()
            for sample, _, value in replica
            if sample == "feeder_replica_feeds_fenced_total"
        )

    def runners(self, scraped: dict[str, Samples] | None = None) -> dict[str, list[str]]:
        """Per feed, the replicas whose metrics (``scraped``, or scraped now) say they run it
        and have read since."""
        running: dict[str, list[str]] = {feed: [] for feed in self.feeds}
        for name, metrics in (scraped or self.metrics()).items():
            for feed in self.feeds:
                runs = feed_metric(metrics, "feeder_replica_feed_running", feed)
                reads = feed_metric(metrics, "feeder_read_duration_seconds_count", feed)
                if runs == 1 and reads > 0:
                    running[feed].append(name)
        return running

    def joined(self) -> set[str]:
        """The replicas whose counted assignments show they are in the group."""
        return {
            name
            for name, metrics in self.metrics().items()
            if any(
                sample == "feeder_replica_rebalances_total" and value > 0
                for sample, _, value in metrics
            )
        }

    def shown_by_feeder_status(self) -> dict[str, list[str]]:
        """Per feed, the replicas whose ``feeder status --json`` says they run it."""
        shown: dict[str, list[str]] = {feed: [] for feed in self.feeds}
        for name in self.alive():
            url = f"http://127.0.0.1:{self.ports[name]}/metrics"
            result = subprocess.run(  # noqa: S603 - fixed arguments
                [sys.executable, "-m", "feeder", "status", "--metrics-url", url, "--json"],
                capture_output=True,
                check=False,
                env={k: v for k, v in self.env.items() if not k.startswith("FEEDER_")},
            )
            document = orjson.loads(result.stdout)
            assert "metrics" in document, f"feeder status could not read {url}: {document}"
            for feed in document["metrics"]["replica_feeds"].get(name, []):
                shown[feed].append(name)
        return shown

    def each_feed_runs_once(self) -> bool:
        return all(len(names) == 1 for names in self.runners().values())

    def caught_up(self, moment: datetime) -> bool:
        """Every feed's live read passed ``moment`` and its re-reads reached the live cursor."""
        for metrics in self.metrics().values():
            for feed in self.feeds:
                if feed_metric(metrics, "feeder_replica_feed_running", feed) != 1:
                    continue
                live = feed_metric(
                    metrics, "feeder_watermark_timestamp_seconds", feed, sweep="live"
                )
                behind = [
                    value
                    for sample, labels, value in metrics
                    if sample == "feeder_reread_behind_seconds" and labels.get("feed") == feed
                ]
                if live < moment.timestamp() or any(b > 0 for b in behind):
                    return False
        return True

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            process.wait(60)


async def traffic(sims: dict[str, ThreadedSimulator], transitions: int) -> None:
    """Every store made ``transitions`` more transitions."""
    await asyncio.gather(*(traffic_until(sim, transitions) for sim in sims.values()))


async def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> float:
    """Seconds until ``condition`` held."""
    started = time.monotonic()
    await wait_until(condition, timeout_s=timeout_s, what=what)
    return time.monotonic() - started


SETTLED_S = 3.0
"""How long the group's assignment must stand still to count as settled: a feed that moves
while the group forms or takes over is started by its new owner, may be fenced by an old one
still starting, and is started again a heartbeat interval later (README *Delivery*)."""


async def wait_settled(replicas: Replicas, timeout_s: float = 60) -> None:
    """Until each feed runs on one replica and no feed moved or was fenced for ``SETTLED_S``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    seen: tuple[dict[str, list[str]], float] | None = None
    since = loop.time()
    while True:
        now_s = loop.time()
        if now_s > deadline:
            raise AssertionError(f"the replica group did not settle within {timeout_s} s")
        metrics = replicas.metrics()
        state = (replicas.runners(metrics), replicas.fences(metrics))
        if state != seen:
            seen, since = state, now_s
        elif all(len(names) == 1 for names in state[0].values()) and now_s - since >= SETTLED_S:
            return
        await asyncio.sleep(0.3)


def group_env(sims: dict[str, ThreadedSimulator], bootstrap: str, tmp_path: Path) -> dict[str, str]:
    """One config of every feed: each its own simulated store (API URL, token) and topics."""
    suffix = uuid.uuid4().hex[:8]
    per_feed = {
        feed: {
            "api": {"base_url": sim.base_url, "token": sim.token},
            "kafka": {
                "topics": {
                    topic: f"{topic}-{feed}-{suffix}"
                    for topic in ("events", "fraud", "state", "dead_letter", "heartbeat")
                }
            },
        }
        for feed, sim in sims.items()
    }
    first = next(iter(sims.values()))
    return {
        **run_env(first.base_url, first.token, bootstrap, tmp_path / "unused.sqlite3", 0),
        "FEEDER_SWEEP__POLL_INTERVAL_S": "0.5",
        "FEEDER_API__REQUESTS_PER_S": "15",
        "FEEDER_CHECKPOINT__BACKEND": "kafka",
        "FEEDER_KAFKA__TOPICS__CHECKPOINT": f"checkpoint-{suffix}",
        "FEEDER_DELIVERY__MODE": "exactly-once",
        "FEEDER_REPLICAS__ENABLED": "true",
        "FEEDER_REPLICAS__GROUP_ID": f"replicas-{suffix}",
        "FEEDER_REPLICAS__CONTROL_TOPIC": f"control-{suffix}",
        "FEEDER_REPLICAS__SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S),
        "FEEDER_REPLICAS__HEARTBEAT_INTERVAL_S": "1",
        "FEEDER_FEEDS": orjson.dumps(per_feed).decode(),
    }


@pytest.mark.parametrize(
    ("replica_count", "feed_count"),
    [
        pytest.param(2, 1, id="an active instance and a hot standby"),
        pytest.param(3, 5, id="three replicas, five feeds"),
    ],
)
async def test_replicas_run_each_feed_once_and_take_over_a_killed_ones_feeds(
    kafka_bootstrap: str,
    tmp_path: Path,
    fault_report: list[Tally | str],
    replica_count: int,
    feed_count: int,
) -> None:
    # Feed names no other test uses: a feed's transactional.id is its name, and two tests
    # running a feed of one name on the broker at once fence each other's.
    run = uuid.uuid4().hex[:6]
    feeds = [f"store-{n}-{run}" for n in range(feed_count)]
    names = [f"r{n}" for n in range(replica_count)]
    with contextlib.ExitStack() as running:
        sims = {
            feed: running.enter_context(run_simulator_in_thread(busy_store(seed=57 + n)))
            for n, feed in enumerate(feeds)
        }
        opened = now()
        env = group_env(sims, kafka_bootstrap, tmp_path)
        replicas = Replicas(env, tmp_path, feeds)
        try:
            for name in names:
                replicas.start(name)
            await wait_for(replicas.each_feed_runs_once, "each feed to run on one replica")
            await wait_until(
                lambda: replicas.joined() == set(names),
                timeout_s=60,
                what="every replica to join the group",
            )
            await wait_settled(replicas)
            # until every feed settled on its replica, feeds moved (each move is a takeover)
            blind = {feed: [(opened, now())] for feed in feeds}
            fences_settled = replicas.fences(replicas.metrics())
            await wait_for(
                lambda: replicas.shown_by_feeder_status() == replicas.runners(),
                "feeder status to show each replica's feeds",
            )
            await traffic(sims, 150)
            assert replicas.fences(replicas.metrics()) == fences_settled, "fenced while settled"
            runners = replicas.runners()
            victim = max(names, key=lambda r: sum(r in n for n in runners.values()))
            moved = [feed for feed, names in runners.items() if names == [victim]]
            killed_at = now()
            replicas.processes[victim].send_signal(signal.SIGKILL)
            replicas.processes[victim].wait(10)
            takeover_s = await wait_for(
                lambda: all(names and victim not in names for names in replicas.runners().values()),
                f"the feeds of {victim} ({', '.join(moved)}) to move",
            )
            await wait_settled(replicas)
            for feed in moved:  # blind from the page the kill cut short until taken over
                blind[feed].append((killed_at - timedelta(seconds=KILLED_PAGE_S), now()))
            assert replicas.each_feed_runs_once()
            await traffic(sims, 150)
            for sim in sims.values():
                sim.call(lambda s: s.pause())
            await wait_for(
                lambda: all(sim.call(lambda s: s.held_changes) == 0 for sim in sims.values()),
                "held commits",
            )
            paused_at = now()
            await wait_for(lambda: replicas.caught_up(paused_at), "every feed to catch up")
            replicas.stop_all()
            exits = {name: p.returncode for name, p in replicas.processes.items()}
        finally:
            for process in replicas.processes.values():
                if process.poll() is None:
                    process.kill()
                    process.wait(10)
        truths = {
            feed: (sim.call(lambda s: s.ground_truth()), sim.call(lambda s: s.versions()))
            for feed, sim in sims.items()
        }
    assert exits == {**dict.fromkeys(names, 0), victim: -signal.SIGKILL}
    bound = timing(load_settings_from(env))
    fault_report.append(
        f"replicas: the feeds of {victim} ({', '.join(moved)}) ran elsewhere and had read "
        f"{takeover_s:.1f} s after its kill (session timeout {SESSION_TIMEOUT_S:g} s)"
    )
    for feed in feeds:
        transitions, versions = truths[feed]
        expect = expectations(transitions, versions, bound, blind_spans=blind[feed])
        topic = orjson.loads(env["FEEDER_FEEDS"])[feed]["kafka"]["topics"]["events"]
        events = await published_events(kafka_bootstrap, topic)
        result = judge(
            f"replicas: {feed}{' (moved)' if feed in moved else ''}",
            events,
            expect,
            first_times=False,
            min_required=400,  # a moved feed is not read until it is taken over
            max_excused_share=0.3,  # 4.3-11.7 % in three runs (a 0.5 s poll)
        )
        fault_report.append(result)
