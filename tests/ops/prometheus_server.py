"""A real Prometheus for the live alert tests: scrapes whatever target a test names, every
second, and evaluates ``deploy/prometheus/feeder-alerts.yml`` every second.

The rule file Prometheus loads is generated from the real one by rewriting only the ``for:``
durations (minutes in production, seconds here); every expression, label and annotation is the
shipped one. Each scenario scrapes its feeder under an ``instance`` label of its own, so what
one scenario left in the TSDB (counters, rates over 5-15 minutes) never counts in another's
alerts.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from feeder_devkit.localkafka.broker import free_port

TEST_FOR = "3s"
_INTERVAL = "1s"


def rules_with_short_for(original: str, for_: str = TEST_FOR) -> str:
    """The rule file with every ``for:`` set to ``for_``; nothing else differs (checked on the
    text written, by :func:`differences_besides_for`)."""
    document = yaml.safe_load(original)
    for group in document["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = for_
    rewritten = yaml.safe_dump(document, sort_keys=False)
    problems = differences_besides_for(original, rewritten, for_)
    if problems:
        raise AssertionError(f"the test's rule file is not the shipped one: {problems}")
    return rewritten


def differences_besides_for(original: str, rewritten: str, for_: str) -> list[str]:
    """How the rule file ``rewritten`` differs from ``original``, other than in each ``for:``
    that ``original`` has being ``for_`` in ``rewritten``."""
    before, after = yaml.safe_load(original), yaml.safe_load(rewritten)
    problems = []
    if before.keys() != after.keys():
        problems.append(f"top-level keys {sorted(before)} != {sorted(after)}")
    groups = zip(before["groups"], after["groups"], strict=False)
    if len(before["groups"]) != len(after["groups"]):
        problems.append(f"{len(before['groups'])} groups != {len(after['groups'])}")
    for old_group, new_group in groups:
        if {**old_group, "rules": None} != {**new_group, "rules": None}:
            problems.append(f"group {old_group.get('name')} differs")
        if len(old_group["rules"]) != len(new_group["rules"]):
            problems.append(f"group {old_group.get('name')} has another number of rules")
        for old, new in zip(old_group["rules"], new_group["rules"], strict=False):
            name = old.get("alert") or old.get("record")
            if ("for" in old) != ("for" in new) or new.get("for", for_) != for_:
                problems.append(f"{name}: for {old.get('for')} became {new.get('for')}")
            if {k: v for k, v in old.items() if k != "for"} != {
                k: v for k, v in new.items() if k != "for"
            }:
                problems.append(f"{name} differs in more than its for")
    return problems


@dataclass(frozen=True)
class AlertState:
    name: str
    state: str  # "pending" or "firing"
    labels: dict[str, str]


@dataclass
class Transitions:
    """When (seconds after ``started``) an alert was first seen in each state."""

    started: float = field(default_factory=time.monotonic)
    seen: dict[str, float] = field(default_factory=dict)

    def mark(self, state: str) -> None:
        self.seen.setdefault(state, round(time.monotonic() - self.started, 1))


@dataclass
class Prometheus:
    url: str
    targets_file: Path
    _ports: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def scrape(self, port: int | None, instance: str) -> None:
        """Scrape feeder's metrics on ``port`` as ``instance`` (``None``: stop scraping it).

        Scenarios run at once, each with its own instance; this is thread-safe."""
        with self._lock:
            if port is None:
                self._ports.pop(instance, None)
            else:
                self._ports[instance] = port
            targets = [
                {"targets": [f"127.0.0.1:{target}"], "labels": {"instance": name}}
                for name, target in self._ports.items()
            ]
            staging = self.targets_file.with_suffix(".tmp")
            staging.write_text(json.dumps(targets))
            staging.replace(self.targets_file)  # Prometheus watches it; never half-written

    def query(self, expression: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=10)
        response.raise_for_status()
        return list(response.json()["data"]["result"])

    def alerts(self, instance: str) -> list[AlertState]:
        response = httpx.get(f"{self.url}/api/v1/alerts", timeout=10)
        response.raise_for_status()
        return [
            AlertState(alert["labels"]["alertname"], alert["state"], alert["labels"])
            for alert in response.json()["data"]["alerts"]
            if alert["labels"].get("instance") == instance
        ]

    def state_of(self, alert: str, instance: str) -> str:
        """``pending``, ``firing`` or ``inactive``."""
        states = {a.state for a in self.alerts(instance) if a.name == alert}
        return "firing" if "firing" in states else "pending" if states else "inactive"

    def watch(
        self, alert: str, instance: str, until: str, transitions: Transitions, timeout_s: float
    ) -> None:
        """Poll until ``alert`` of ``instance`` is in state ``until``, noting every state seen."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.state_of(alert, instance)
            transitions.mark(state)
            if state == until:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{alert} of {instance} still {state} after {timeout_s} s "
                    f"(seen so far: {transitions.seen})"
                )
            time.sleep(0.25)

    def wait_scraped(self, instance: str, timeout_s: float = 60) -> None:
        """Until Prometheus has scraped ``instance`` successfully."""
        deadline = time.monotonic() + timeout_s
        while not any(
            sample["value"][1] == "1"
            for sample in self.query(f'up{{job="feeder",instance="{instance}"}}')
        ):
            if time.monotonic() > deadline:
                raise AssertionError(f"Prometheus did not scrape {instance} within {timeout_s} s")
            time.sleep(0.25)


@contextlib.contextmanager
def running_prometheus(binary: str, rules: Path, folder: Path) -> Iterator[Prometheus]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feeder-alerts.yml").write_text(rules_with_short_for(rules.read_text()))
    targets = folder / "targets.json"
    targets.write_text("[]")
    config = {
        "global": {
            "scrape_interval": _INTERVAL,
            "scrape_timeout": _INTERVAL,
            "evaluation_interval": _INTERVAL,
        },
        "rule_files": ["feeder-alerts.yml"],
        "scrape_configs": [
            {
                "job_name": "feeder",
                "file_sd_configs": [{"files": [str(targets)], "refresh_interval": _INTERVAL}],
            }
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (folder / "prometheus.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", targets)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited with {process.returncode}: "
                    f"{(folder / 'prometheus.log').read_text(errors='replace')[-2000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{prometheus.url}/-/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("prometheus did not become ready within 60 s")
            time.sleep(0.2)
        yield prometheus
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
