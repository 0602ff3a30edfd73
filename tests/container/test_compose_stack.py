"""docker-compose.yml started with podman-compose as users start it with ``docker compose up``:
the images built here from the Dockerfile, stand-ins for apache/kafka and prom/prometheus
(``compose.override.yml`` changes image names only), grafana left out (no stand-in can be made
here; its dashboard is checked as JSON in tests/ops).

Judged from outside: health checks as podman runs them, events as Apache Kafka's console
consumer and the CloudEvents SDK read them, the target as Prometheus's HTTP API shows it, and a
``stop`` (SIGTERM) and a start again that must resume from the checkpoint on the volume.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat
from prometheus_client.parser import text_string_to_metric_families

from feeder.core.records import STRUCTURED_CONTENT_TYPE
from tests.container.compose_stack import (
    LEFT_OUT,
    ComposeStack,
    image_variable,
    only_stack_on_this_machine,
    override_document,
    started_at,
)
from tests.container.images import BuiltImages
from tests.container.podman import podman
from tests.container.summary import report
from tests.kafka_console_consumer import ConsoleRecord, read_with_console_consumer
from tests.worker_groups import MANY_PROCESSES

# Each test's own deadline, about three times what it takes on a cold machine (the first read
# with the console consumer may fetch it with Maven); the fixtures (stand-ins, builds, the
# stack) are bounded by their own deadlines on every podman call instead.
pytestmark = [MANY_PROCESSES, pytest.mark.timeout(60, func_only=True)]

HEALTHY_WITHIN_S = 120.0
KAFKA_ON_THE_HOST = "localhost:29092"
PROMETHEUS_ON_THE_HOST = "http://127.0.0.1:9090"
FEEDER_ON_THE_HOST = "http://127.0.0.1:9464"
EVENTS_TOPIC = "oasis.sessions.events"
_LIVE_RESUMED = re.compile(r"resuming at FeedPosition\(.*?live=datetime\.datetime\(([\d, ]+)")


@dataclass(frozen=True, slots=True)
class RunningStack:
    compose: ComposeStack
    healthy_after_s: dict[str, float]
    feeder_image: str


@pytest.fixture(scope="module")
def stack(built_images: BuiltImages) -> Iterator[RunningStack]:
    images = {service: built.reference for service, built in built_images.by_service.items()}
    images |= {
        "kafka": built_images.stand_ins.kafka,
        "prometheus": built_images.stand_ins.prometheus,
    }
    compose = ComposeStack(images)
    with only_stack_on_this_machine(within_s=600) as waited_s:
        if waited_s > 1:
            report(f"waited {waited_s:.0f} s for another run's stack on this machine")
        compose.down()  # what a run that was killed left behind
        try:
            compose.up(healthy_within_s=HEALTHY_WITHIN_S)
            healthy_after_s = dict(compose.healthy_after_s)
            yield RunningStack(compose, healthy_after_s, built_images.feeder.reference)
        finally:
            compose.down()


def test_the_override_changes_image_names_only() -> None:
    override = override_document()
    assert set(override) == {"services"}
    stack_services = set(ComposeStack({}).services)
    assert set(override["services"]) == stack_services
    for service, changes in override["services"].items():
        assert changes == {"image": f"${{{image_variable(service)}}}"}, service
    for service, why in LEFT_OUT.items():
        report(f"compose service {service} not started: {why}")


@pytest.mark.timeout(90, func_only=True)
def test_every_service_comes_up_healthy(stack: RunningStack) -> None:
    compose = stack.compose
    for service in compose.services:
        state = compose.state(service)
        assert state["Status"] == "running", (service, compose.logs(service))
    assert set(stack.healthy_after_s) == {"kafka", "simulator", "feeder"}
    for service in stack.healthy_after_s:
        assert compose.state(service)["Health"]["Status"] == "healthy", service
    ready_after_s = prometheus_ready_after_s(compose)
    figures = ", ".join(f"{name} {s:.1f} s" for name, s in sorted(stack.healthy_after_s.items()))
    report(
        f"healthy, from the container's start (health check run every 0.5 s): {figures}; "
        f"prometheus (no health check) ready after {ready_after_s:.1f} s"
    )


def prometheus_ready_after_s(compose: ComposeStack) -> float:
    """Seconds from Prometheus's start until its ``/-/ready`` answers 200."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{PROMETHEUS_ON_THE_HOST}/-/ready", timeout=5).status_code == 200:
                since = datetime.now(UTC) - started_at(compose.state("prometheus"))
                return since.total_seconds()
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.5)
    raise AssertionError(f"Prometheus was not ready within 60 s:\n{compose.logs('prometheus')}")


def test_the_feeder_runs_as_uid_10001(stack: RunningStack) -> None:
    container = stack.compose.container("feeder")
    status = podman("exec", container, "cat", "/proc/1/status", timeout_s=30).stdout
    (uid_line,) = [line for line in status.splitlines() if line.startswith("Uid:")]
    assert uid_line.split()[1:] == ["10001"] * 4
    listing = podman("exec", container, "ls", "-ln", "/var/lib/feeder", timeout_s=30).stdout
    (checkpoint,) = [line for line in listing.splitlines() if line.endswith(" feeder.sqlite3")]
    assert checkpoint.split()[2:4] == ["10001", "10001"]


def test_feeder_check_passes_inside_the_running_feeder(stack: RunningStack) -> None:
    result = podman(
        "exec", stack.compose.container("feeder"), "feeder", "check", timeout_s=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: settings are valid" in result.stdout
    assert "ok: the sessions API at http://simulator:8080/ accepts our credentials" in result.stdout
    assert "ok: Kafka at kafka:9092 answers" in result.stdout


@pytest.mark.timeout(150, func_only=True)
def test_events_reach_kafka_as_cloudevents_read_by_clients_we_did_not_write(
    stack: RunningStack,
) -> None:
    wanted = 50
    records = read_with_console_consumer(
        KAFKA_ON_THE_HOST,
        EVENTS_TOPIC,
        isolation_level="read_committed",
        expected_count=wanted,
        timeout_s=120,
        idle_timeout_ms=30_000,
    )
    assert len(records) == wanted
    types = Counter(decoded(record)["type"] for record in records)
    assert "session.created" in types
    report(
        f"console consumer read the first {len(records)} events on {KAFKA_ON_THE_HOST}, each "
        f"decoded by the CloudEvents SDK: {dict(sorted(types.items()))}"
    )


@pytest.mark.timeout(90, func_only=True)
def test_prometheus_scrapes_the_feeder(stack: RunningStack) -> None:
    """The first scrape comes within one scrape interval (15 s) of Prometheus's start."""
    deadline = time.monotonic() + 60
    feeder: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{PROMETHEUS_ON_THE_HOST}/api/v1/targets", timeout=10)
        targets = answer.json()["data"]["activeTargets"]
        found = [target for target in targets if target["labels"]["job"] == "feeder"]
        if found:  # none until Prometheus has loaded its configuration
            (feeder,) = found
            if feeder["health"] == "up":
                break
        time.sleep(1)
    assert feeder.get("health") == "up", feeder
    assert feeder["scrapeUrl"] == "http://feeder:9464/metrics"


@pytest.mark.timeout(180, func_only=True)
def test_sigterm_stops_the_feeder_in_its_grace_period_and_a_restart_resumes_from_the_volume(
    stack: RunningStack,
) -> None:
    compose = stack.compose
    grace_s = compose.grace_period_s("feeder")
    stop_s = compose.stop("feeder")
    state = compose.state("feeder")
    assert state["Status"] == "exited"
    assert state["ExitCode"] == 0, compose.logs("feeder")  # not 137: it was not killed
    assert stop_s < grace_s
    before = all_events()
    assert before
    checkpoint = checkpoint_on_the_volume(stack)
    assert checkpoint["tracked_sessions"] > 0
    live_before = checkpoint["position"]["live"]

    time.sleep(3)  # the simulator goes on: there is something to catch up on
    compose.start("feeder")
    healthy_s = compose.wait_healthy("feeder", within_s=HEALTHY_WITHIN_S)
    assert resumed_live_position(compose) == live_before
    wait_for_events_published_since_the_start()
    compose.stop("feeder")
    after = all_events()

    same_id, new_id = resends(list(after.values()))
    assert before.items() <= after.items()  # nothing read before the stop changed or went
    assert len(after) > len(before)
    assert same_id == 0
    assert new_id == 0
    report(
        f"stop (SIGTERM): exited 0 after {stop_s:.1f} s (grace {grace_s:g} s); checkpoint on the "
        f"volume at {live_before}, {checkpoint['tracked_sessions']} sessions; started again: "
        f"healthy after {healthy_s:.1f} s, resumed at {live_before}"
    )
    report(
        f"events read by the console consumer: {len(before)} before the stop, {len(after)} "
        f"after the restart ({len(after) - len(before)} new); re-sent under the same id: "
        f"{same_id}, under a new id: {new_id}"
    )


def decoded(record: ConsoleRecord) -> dict[str, Any]:
    """The record as the CloudEvents SDK reads it (structured mode), its attributes checked."""
    headers = {name: (value or "").encode() for name, value in record.headers}
    assert headers == {"content-type": STRUCTURED_CONTENT_TYPE.encode()}
    assert record.value is not None
    event = from_kafka(KafkaMessage(headers, record.key, record.value.encode()), JSONFormat())
    assert event.get_subject() == record.key
    attributes = json.loads(record.value)
    assert attributes["id"] == event.get_id()
    assert attributes["specversion"] == "1.0"
    assert isinstance(attributes, dict)
    return attributes


def all_events() -> dict[tuple[int, int], dict[str, Any]]:
    """Every event on the topic by (partition, offset); only while the feeder is stopped (the
    console consumer ends on 5 s without a new record)."""
    records = read_with_console_consumer(
        KAFKA_ON_THE_HOST,
        EVENTS_TOPIC,
        isolation_level="read_committed",
        expected_count=None,
        timeout_s=120,
    )
    return {(record.partition, record.offset): decoded(record) for record in records}


def wait_for_events_published_since_the_start() -> None:
    """Until the feeder's own counter (it starts at 0 with the process) shows events published
    to the events topic; the console consumer then says what they are."""
    deadline = time.monotonic() + 90
    published = 0.0
    while time.monotonic() < deadline:
        metrics = httpx.get(f"{FEEDER_ON_THE_HOST}/metrics", timeout=10).text
        published = sum(
            sample.value
            for family in text_string_to_metric_families(metrics)
            if family.name == "feeder_events_published"
            for sample in family.samples
            if sample.name.endswith("_total") and sample.labels.get("topic") == EVENTS_TOPIC
        )
        if published > 0:
            return
        time.sleep(1)
    raise AssertionError("the restarted feeder published no event within 90 s")


def resends(events: list[dict[str, Any]]) -> tuple[int, int]:
    """(events re-sent under an id already on the topic, transitions published under more than
    one id). A transition is its session, type, time and the new values it records."""
    ids = Counter(event["id"] for event in events)
    same_id = sum(count - 1 for count in ids.values())
    ids_of: defaultdict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for event in events:
        new_values = {field: change["new"] for field, change in event["data"]["changed"].items()}
        key = (
            event["subject"],
            event["type"],
            event["time"],
            json.dumps(new_values, sort_keys=True),
        )
        ids_of[key].add(event["id"])
    new_id = sum(len(found) - 1 for found in ids_of.values())
    return same_id, new_id


def checkpoint_on_the_volume(stack: RunningStack) -> dict[str, Any]:
    """``feeder checkpoint show`` in a throwaway container that mounts the feeder's volume."""
    volume = stack.compose.volume("feeder-data")
    shown = podman(
        "run", "--rm", f"--volume={volume}:/var/lib/feeder", stack.feeder_image,
        "checkpoint", "show", "--json", timeout_s=120,
    )  # fmt: skip
    document = json.loads(shown.stdout)["checkpoint"]
    assert document["path"] == "/var/lib/feeder/feeder.sqlite3"
    assert isinstance(document, dict)
    return document


def resumed_live_position(compose: ComposeStack) -> str:
    """The live position the last start says it resumed at, as the checkpoint writes it."""
    printed = podman("logs", compose.container("feeder"), timeout_s=30)
    logs = printed.stdout + printed.stderr
    resumed = _LIVE_RESUMED.findall(logs)
    assert resumed, f"no 'resuming at' line in the feeder's log:\n{logs[-3000:]}"
    year, month, day, hour, minute, second, *micro = (
        int(part) for part in resumed[-1].split(",") if part.strip()
    )
    moment = datetime(year, month, day, hour, minute, second, micro[0] if micro else 0, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
