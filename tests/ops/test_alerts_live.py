"""The alert rules, watched live: a real Prometheus scrapes a running feeder (simulator, FeedApp,
real broker) and evaluates ``deploy/prometheus/feeder-alerts.yml``; each test injects one fault
and follows the intended alert through Prometheus's HTTP API (``/api/v1/alerts``): inactive,
pending, firing, and inactive again after recovery.

Only the rules' ``for:`` durations are shortened (see ``prometheus_server``); the expressions are
the shipped ones, so a fault must really meet them. Two consequences:

- ``FeederPublishErrors`` counts failed pages over 10 minutes: it goes pending and firing
  within seconds of a broker outage, but stays firing until 10 minutes after the last failure,
  so this test checks that the feed recovers, not that the alert clears.
- ``FeederSweepStalled`` fires after 5 minutes without a caught-up live sweep, or at once for a
  feeder whose live sweep never caught up since it started; the test stalls a feeder in its
  first catch-up (a throttled backlog, then an API that hangs) to meet the second branch.

Every wait polls for a condition with a generous deadline; the seconds printed are what was
observed, not asserted. The four scenarios run at once, each scraped under an ``instance``
label of its own, and one test per alert reads its scenario's outcome.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from feeder_devkit.localkafka import LocalKafkaBroker
from feeder_devkit.localkafka.broker import free_port
from feeder_devkit.simulator.server import ThreadedSimulator, run_simulator_in_thread
from feeder_devkit.simulator.settings import FaultSettings, SimulatorSettings

from feeder.settings import FeederSettings
from tests.e2e.harness import busy_store, feeder_settings
from tests.feeder_command import without_feeder_settings
from tests.ops.conftest import ROOT
from tests.ops.live_feed import feed_app_in_thread, wait_for
from tests.ops.prometheus_server import Prometheus, Transitions, running_prometheus
from tests.worker_groups import RESTARTABLE_KAFKA

# One worker for the module's shared run of scenarios, and the broker one of them stops.
pytestmark = [pytest.mark.kafka, RESTARTABLE_KAFKA, pytest.mark.timeout(240)]

RULES = ROOT / "deploy" / "prometheus" / "feeder-alerts.yml"
DEADLINE_S = 120.0


@pytest.fixture(scope="module")
def prometheus(
    prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    with running_prometheus(prometheus_binary, RULES, tmp_path_factory.mktemp("prom")) as prom:
        yield prom


def settings_for(
    sim: ThreadedSimulator, bootstrap: str, folder: Path, port: int, **overrides: object
) -> FeederSettings:
    api = overrides.pop("api", {})
    kafka = overrides.pop("kafka", {})
    settings = feeder_settings(
        sim.base_url,
        sim.token,
        bootstrap,
        folder / "cp.sqlite3",
        error_backoff_max_s=1.0,
        **overrides,
    )
    return settings.model_copy(
        update={
            "api": settings.api.model_copy(update=api),
            "kafka": settings.kafka.model_copy(update=kafka),
            "observability": settings.observability.model_copy(update={"port": port}),
        }
    )


@dataclass(frozen=True)
class Observed:
    fault: Transitions  # from the fault on
    recovery: Transitions | None  # from the recovery on
    still_after_recovery: str | None = None

    def recovery_seen(self) -> dict[str, float]:
        assert self.recovery is not None
        return self.recovery.seen


def report(alert: str, fault: Transitions, recovery: Transitions | None) -> None:
    after = (
        "not waited for (the rule counts over 10 min)"
        if recovery is None
        else f"inactive {recovery.seen.get('inactive')} s after recovery"
    )
    print(  # noqa: T201 - the observed timings, quoted in the README
        f"\n{alert}: after the fault pending {fault.seen.get('pending')} s, "
        f"firing {fault.seen.get('firing')} s; {after}",
        file=sys.stderr,
    )


def start_watching(prometheus: Prometheus, port: int, instance: str, alert: str) -> None:
    prometheus.scrape(port, instance)
    prometheus.wait_scraped(instance)
    assert prometheus.state_of(alert, instance) == "inactive"


def quiet_store(**traffic: object) -> SimulatorSettings:
    return SimulatorSettings.model_validate(
        {"server": {"port": 0}, "traffic": {"seed": 5, "start_paused": True, **traffic}}
    )


@dataclass(frozen=True, slots=True)
class Brokers:
    shared: str  # the run's broker (its bootstrap address)
    restartable: LocalKafkaBroker  # the broker a scenario may stop and start again


def feeder_down(prometheus: Prometheus, kafka: Brokers, tmp_path: Path) -> Observed:
    """The process is gone (its metrics port refuses), then back."""
    instance, port = "feeder-down", free_port()
    with run_simulator_in_thread(quiet_store()) as sim:
        settings = settings_for(sim, kafka.shared, tmp_path, port)
        with feed_app_in_thread(settings):
            start_watching(prometheus, port, instance, "FeederDown")
        fault = Transitions()
        prometheus.watch("FeederDown", instance, "firing", fault, DEADLINE_S)
        with feed_app_in_thread(settings):
            recovery = Transitions()
            prometheus.watch("FeederDown", instance, "inactive", recovery, DEADLINE_S)
    prometheus.scrape(None, instance)
    return Observed(fault, recovery)


def api_down(prometheus: Prometheus, kafka: Brokers, tmp_path: Path) -> Observed:
    """Every API request answered 5xx, then none."""
    instance, port, alert = "api-down", free_port(), "FeederApiErrorRatioHigh"
    with run_simulator_in_thread(quiet_store()) as sim:
        settings = settings_for(sim, kafka.shared, tmp_path, port)
        with feed_app_in_thread(settings):
            start_watching(prometheus, port, instance, alert)
            sim.call(lambda s: s.set_faults(FaultSettings(error_share=1.0)))
            fault = Transitions()
            prometheus.watch(alert, instance, "firing", fault, DEADLINE_S)
            sim.call(lambda s: s.set_faults(FaultSettings()))
            recovery = Transitions()
            # Clears once successes outnumber the outage's failures 3:1 within the 5 min window.
            prometheus.watch(alert, instance, "inactive", recovery, DEADLINE_S)
    prometheus.scrape(None, instance)
    return Observed(fault, recovery)


def broker_down(prometheus: Prometheus, kafka: Brokers, tmp_path: Path) -> Observed:
    """A broker of its own stopped, then started again over the same data."""
    instance, port, alert = "broker-down", free_port(), "FeederPublishErrors"
    broker = kafka.restartable
    broker.start()
    # A real `feeder run` process: while the broker restarts, a producer start can time out
    # half-connected, and aiokafka then drops that connection unclosed (aiokafka #715, open);
    # in a process of its own that stays the feeder's business.
    with (
        run_simulator_in_thread(busy_store(seed=33)) as sim,
        feeder_process(sim, broker.bootstrap_servers, tmp_path, port),
    ):
        start_watching(prometheus, port, instance, alert)
        broker.stop()
        fault = Transitions()
        prometheus.watch(alert, instance, "firing", fault, DEADLINE_S)
        broker.start()

        def ready() -> bool:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200

        wait_for(ready, timeout_s=DEADLINE_S, what="the feed to publish again")
        still = prometheus.state_of(alert, instance)  # firing until its 10 minutes pass
    prometheus.scrape(None, instance)
    return Observed(fault, None, still_after_recovery=still)


@contextlib.contextmanager
def feeder_process(
    sim: ThreadedSimulator, bootstrap: str, folder: Path, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    """``feeder run`` against the simulator and ``bootstrap``, metrics on ``port``."""
    settings = settings_for(sim, bootstrap, folder, port, kafka={"send_timeout_s": 1.5})
    env = without_feeder_settings()
    dumped = settings.model_dump(mode="json", exclude={"kafka": {"topics"}, "feeds": True})
    for group, values in dumped.items():
        if not isinstance(values, dict):  # a top-level setting (FEEDER_FEED_NAME)
            env[f"FEEDER_{group.upper()}"] = str(values)
            continue
        for name, value in values.items():
            if value is not None:
                env[f"FEEDER_{group.upper()}__{name.upper()}"] = str(value)
    for name, topic in settings.kafka.topics.model_dump().items():
        env[f"FEEDER_KAFKA__TOPICS__{name.upper()}"] = topic
    env["FEEDER_API__TOKEN"] = sim.token
    log = (folder / "feeder.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "feeder", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for(
            lambda: _answers(f"http://127.0.0.1:{port}/healthz") or process.poll() is not None,
            timeout_s=DEADLINE_S,
            what="feeder run to serve /healthz",
        )
        assert process.poll() is None, (folder / "feeder.log").read_text()
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def feed_stalled(prometheus: Prometheus, kafka: Brokers, tmp_path: Path) -> Observed:
    """The API hangs while a feeder is in its first catch-up, then answers again."""
    instance, port, alert = "feed-stalled", free_port(), "FeederSweepStalled"
    # 800 sessions of history at 10 pages of 10 per second: the first live sweep needs at
    # least 8 s, so it is still catching up when the API starts hanging (checked below).
    history = quiet_store(preload_sessions=800, preload_span_s=3000)
    with run_simulator_in_thread(history) as sim:
        settings = settings_for(
            sim,
            kafka.shared,
            tmp_path,
            port,
            page_size=10,
            api={"requests_per_s": 10.0},
        )
        with feed_app_in_thread(settings):
            prometheus.scrape(port, instance)
            sim.call(lambda s: s.set_faults(FaultSettings(hang_share=1.0, hang_s=30.0)))
            fault = Transitions()
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            assert 'feeder_last_successful_sweep_timestamp_seconds{sweep="live"}' not in metrics
            prometheus.watch(alert, instance, "firing", fault, DEADLINE_S)
            sim.call(lambda s: s.set_faults(FaultSettings()))
            recovery = Transitions()
            prometheus.watch(alert, instance, "inactive", recovery, DEADLINE_S)
    prometheus.scrape(None, instance)
    return Observed(fault, recovery)


SCENARIOS: dict[str, Callable[[Prometheus, Brokers, Path], Observed]] = {
    "FeederDown": feeder_down,
    "FeederApiErrorRatioHigh": api_down,
    "FeederPublishErrors": broker_down,
    "FeederSweepStalled": feed_stalled,
}


@pytest.fixture(scope="module")
def observed(
    prometheus: Prometheus,
    kafka_bootstrap: str,
    restartable_kafka: LocalKafkaBroker,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Observed | BaseException]:
    """Every scenario at once (each with its own feeder, simulator and instance label), so the
    module costs about as long as the slowest one."""
    kafka = Brokers(shared=kafka_bootstrap, restartable=restartable_kafka)
    with ThreadPoolExecutor(len(SCENARIOS)) as pool:
        futures = {
            alert: pool.submit(scenario, prometheus, kafka, tmp_path_factory.mktemp(alert))
            for alert, scenario in SCENARIOS.items()
        }
        wait(futures.values())
    return {alert: future.exception() or future.result() for alert, future in futures.items()}


def outcome(observed: dict[str, Observed | BaseException], alert: str) -> Observed:
    result = observed[alert]
    if isinstance(result, BaseException):
        raise result
    assert "pending" in result.fault.seen, result.fault.seen
    report(alert, result.fault, result.recovery)
    return result


def test_feeder_down_fires_and_clears_when_it_is_back(
    observed: dict[str, Observed | BaseException],
) -> None:
    assert "inactive" in outcome(observed, "FeederDown").recovery_seen()


def test_api_down_fires_the_error_ratio_alert_and_it_clears_after_recovery(
    observed: dict[str, Observed | BaseException],
) -> None:
    assert "inactive" in outcome(observed, "FeederApiErrorRatioHigh").recovery_seen()


def test_broker_down_fires_the_publish_errors_alert_and_the_feed_recovers(
    observed: dict[str, Observed | BaseException],
) -> None:
    assert outcome(observed, "FeederPublishErrors").still_after_recovery == "firing"


def test_a_stalled_feed_fires_the_sweep_stalled_alert_and_it_clears_when_caught_up(
    observed: dict[str, Observed | BaseException],
) -> None:
    assert "inactive" in outcome(observed, "FeederSweepStalled").recovery_seen()
