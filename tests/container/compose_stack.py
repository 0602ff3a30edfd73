"""docker-compose.yml started with podman-compose, the way a user starts it with
``docker compose up``, on the images the tests made here (``compose.override.yml``).

podman-compose 1.0.3 (Debian's) differs from Docker Compose in three ways that matter here, and
:class:`ComposeStack` makes up for each from the compose file itself, so the file stays as users
run it:

- it ignores ``depends_on: {condition: service_healthy}`` and starts everything at once:
  :meth:`ComposeStack.up` starts the services in dependency order, each once what it depends on
  is healthy (it waits for every health check, timing each);
- it ignores ``stop_grace_period``: :meth:`ComposeStack.stop` passes the service's grace period
  to ``podman stop``;
- it ignores the top-level ``name``: the project name is passed with ``-p``.

Health checks are not scheduled here (podman needs systemd timers for that):
:meth:`ComposeStack.wait_healthy` runs them with ``podman healthcheck run``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tests.container.podman import WRAPPER, PodmanError, podman

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
OVERRIDE_FILE = Path(__file__).with_name("compose.override.yml")
LEFT_OUT = {"grafana": "no stand-in for grafana/grafana can be made on these machines"}
_DURATION = re.compile(r"^(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?$")


def compose_document() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def override_document() -> dict[str, Any]:
    document = yaml.safe_load(OVERRIDE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def image_variable(service: str) -> str:
    """The variable ``compose.override.yml`` takes ``service``'s image name from."""
    return f"FEEDER_TEST_{service.upper()}_IMAGE"


def started_at(state: Mapping[str, Any]) -> datetime:
    """When the container last started, from ``podman inspect``'s ``State.StartedAt``
    (nanoseconds: the fraction is cut to microseconds)."""
    whole, _, fraction = str(state["StartedAt"]).rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction + '000000')[:6]}+00:00")


def seconds(duration: str) -> float:
    """A compose duration (``20s``, ``1m30s``) in seconds."""
    match = _DURATION.match(duration)
    if match is None or not duration:
        raise ValueError(f"not a compose duration: {duration!r}")
    return 60 * float(match["m"] or 0) + float(match["s"] or 0)


@dataclass(frozen=True, slots=True)
class BuildSpec:
    """A service's ``build:`` entry: what ``docker compose build`` would build for it."""

    context: Path
    dockerfile: Path
    target: str | None

    @property
    def tag(self) -> str:
        """Where the tests keep its image: one per Dockerfile target (the last stage when none)."""
        return f"localhost/feeder-test/image:{self.target or 'last-stage'}"


def build_specs(document: Mapping[str, Any]) -> dict[str, BuildSpec]:
    """Service name -> what its ``build:`` entry builds, for every service built here."""
    specs = {}
    for name, service in document["services"].items():
        if "build" not in service:
            continue
        build = service["build"]
        entry = {"context": build} if isinstance(build, str) else dict(build)
        context = (COMPOSE_FILE.parent / entry.get("context", ".")).resolve()
        specs[name] = BuildSpec(
            context=context,
            dockerfile=context / entry.get("dockerfile", "Dockerfile"),
            target=entry.get("target"),
        )
    return specs


@contextlib.contextmanager
def only_stack_on_this_machine(within_s: float) -> Iterator[float]:
    """Hold this machine's stack lock: the stack publishes fixed host ports and its project
    name is the file's, so a second run (any worktree, any store) waits here instead of tearing
    the first one's stack down. Yields the seconds it waited."""
    lock_path = Path(os.environ.get("XDG_RUNTIME_DIR") or "/run") / "feeder-compose-stack.lock"
    started = time.monotonic()
    with lock_path.open("a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - started > within_s:
                    raise PodmanError(
                        f"another run held {lock_path} for {within_s} s (its stack is up)"
                    ) from None
                time.sleep(1)
        yield time.monotonic() - started


class ComposeStack:
    """The stack of ``services`` (every service but :data:`LEFT_OUT`), with ``images`` (service
    -> image reference) for the override's variables, in the test store."""

    def __init__(self, images: Mapping[str, str]) -> None:
        self.document = compose_document()
        self.project = str(self.document["name"])
        self.services = [name for name in self.document["services"] if name not in LEFT_OUT]
        self._environment = {
            **os.environ,
            **{image_variable(service): image for service, image in images.items()},
        }
        self.healthy_after_s: dict[str, float] = {}

    def compose(self, *args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
        """``podman-compose ARGS`` on docker-compose.yml and the override."""
        command = [
            "podman-compose",
            f"--podman-path={WRAPPER}",
            f"--project-name={self.project}",
            f"--file={COMPOSE_FILE}",
            f"--file={OVERRIDE_FILE}",
            *args,
        ]
        try:
            result = subprocess.run(  # noqa: S603 - fixed program, arguments from the tests
                command,
                env=self._environment,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PodmanError(f"podman-compose {' '.join(args)} ran past {timeout_s} s") from exc
        if result.returncode != 0:
            raise PodmanError(
                f"podman-compose {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        return result

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def volume(self, name: str) -> str:
        return f"{self.project}_{name}"

    def depends_on(self, service: str) -> dict[str, str]:
        """``service``'s dependencies -> the condition it waits for."""
        declared = self.document["services"][service].get("depends_on", {})
        if isinstance(declared, list):
            return dict.fromkeys(declared, "service_started")
        return {name: entry.get("condition", "service_started") for name, entry in declared.items()}

    def published_ports(self) -> list[int]:
        """The host ports the started services publish."""
        ports = []
        for service in self.services:
            for mapping in self.document["services"][service].get("ports", []):
                host, _, _ = str(mapping).rpartition(":")
                ports.append(int(host.rpartition(":")[2]))
        return ports

    def up(self, *, healthy_within_s: float) -> None:
        """Start every service, each once what it depends on is started, or healthy where the
        file says ``condition: service_healthy``. Every service with a health check is waited
        for as soon as it started (stricter than Compose, which waits only where a dependency
        says so), side by side, so that ``healthy_after_s`` holds each one's time from start to
        healthy."""
        for port in self.published_ports():
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    raise PodmanError(
                        f"port {port}, which docker-compose.yml publishes, is already in use on "
                        "this machine (another stack, or a run of this test, still up?)"
                    )
        started: list[str] = []
        while len(started) < len(self.services):
            ready = [
                service
                for service in self.services
                if service not in started and set(self.depends_on(service)) <= set(started)
            ]
            assert ready, f"a dependency cycle or a left-out dependency among {self.services}"
            self.compose("up", "--detach", "--no-build", *ready, timeout_s=180)
            started += ready
            checked = [service for service in ready if self.has_healthcheck(service)]
            with ThreadPoolExecutor(max_workers=max(1, len(checked))) as pool:
                waits = [
                    pool.submit(self.wait_healthy, s, within_s=healthy_within_s) for s in checked
                ]
                for wait in waits:
                    wait.result()

    def has_healthcheck(self, service: str) -> bool:
        """Whether ``service`` has a health check: from the compose file or its image."""
        (inspected,) = json.loads(
            podman("container", "inspect", self.container(service), timeout_s=30).stdout
        )
        return bool(inspected["Config"].get("Healthcheck"))

    def wait_healthy(self, service: str, *, within_s: float) -> float:
        """Run ``service``'s health check until it passes; returns the seconds from the
        container's start to the end of the check that passed (also kept in
        ``healthy_after_s``)."""
        container = self.container(service)
        called = time.monotonic()
        last = ""
        while time.monotonic() - called < within_s:
            result = podman("healthcheck", "run", container, timeout_s=60, check=False)
            if result.returncode == 0:
                since_start = datetime.now(UTC) - started_at(self.state(service))
                self.healthy_after_s[service] = since_start.total_seconds()
                return self.healthy_after_s[service]
            last = result.stdout + result.stderr
            if self.state(service)["Status"] != "running":
                break
            time.sleep(0.5)
        raise PodmanError(
            f"{service} was not healthy within {within_s} s ({last.strip()}):\n{self.logs(service)}"
        )

    def state(self, service: str) -> dict[str, Any]:
        (inspected,) = json.loads(
            podman("container", "inspect", self.container(service), timeout_s=30).stdout
        )
        state = inspected["State"]
        assert isinstance(state, dict)
        return state

    def stop(self, service: str) -> float:
        """``stop`` with the service's ``stop_grace_period`` (Docker's default, 10 s, when it
        has none); the seconds the stop took."""
        grace_s = self.grace_period_s(service)
        started = time.monotonic()
        self.compose("stop", f"--timeout={grace_s:g}", service, timeout_s=grace_s + 60)
        return time.monotonic() - started

    def grace_period_s(self, service: str) -> float:
        return seconds(str(self.document["services"][service].get("stop_grace_period", "10s")))

    def start(self, service: str) -> None:
        self.compose("start", service, timeout_s=120)

    def down(self) -> None:
        """Remove the containers and their volumes, named and anonymous (the simulator's, from
        the Dockerfile's VOLUME), so that the next run starts from empty ones. The store is the
        tests' own: nothing else has volumes there."""
        self.compose("down", "--volumes", "--timeout=20", timeout_s=300)
        podman("volume", "prune", "--force", timeout_s=120)

    def logs(self, service: str, lines: int = 40) -> str:
        result = podman(
            "logs", f"--tail={lines}", self.container(service), timeout_s=30, check=False
        )
        return f"--- {service} ---\n{result.stdout}{result.stderr}"
