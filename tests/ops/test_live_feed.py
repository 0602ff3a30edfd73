"""Against a running feeder (simulator, FeedApp, real broker): the dashboard's and the alerts'
metric names are really exported, real events validate against the schemas, `feeder tail` and
`feeder status` read them, and the container health check passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator
from prometheus_client.parser import text_string_to_metric_families

from feeder.core.records import STRUCTURED_CONTENT_TYPE
from feeder.schemas.generate import DEAD_LETTER_NAME, STATE_NAME, record_document
from tests.kafka_reading import read_topic
from tests.ops.conftest import ROOT
from tests.ops.live_feed import LiveFeed, live_feed
from tests.ops.manifests import dockerfile_instructions
from tests.ops.promql import exposed_names, metric_names
from tests.worker_groups import ONE_WORKER

pytestmark = [pytest.mark.kafka, ONE_WORKER(__name__), pytest.mark.timeout(120)]

DASHBOARD = json.loads((ROOT / "deploy" / "grafana" / "feeder-dashboard.json").read_text())
SCHEMAS = ROOT / "schemas"


@pytest.fixture(scope="module")
def feed(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveFeed]:
    with live_feed(kafka_bootstrap, tmp_path_factory.mktemp("live") / "cp.sqlite3") as running:
        yield running


@pytest.fixture(scope="module")
def exposed(feed: LiveFeed) -> set[str]:
    families = {
        family.name: family.type for family in text_string_to_metric_families(feed.scrape())
    }
    return exposed_names(families)


def dashboard_expressions() -> list[tuple[str, str]]:
    found = [
        (panel["title"], target["expr"])
        for panel in DASHBOARD["panels"]
        for target in panel.get("targets", [])
    ]
    found.extend(
        (f"variable {variable['name']}", variable["query"]["query"].split("(", 1)[1].split(",")[0])
        for variable in DASHBOARD["templating"]["list"]
        if variable["type"] == "query"
    )
    return found


def test_every_dashboard_metric_is_exported_by_a_running_feeder(exposed: set[str]) -> None:
    missing = {
        (title, name)
        for title, expression in dashboard_expressions()
        for name in metric_names(expression)
        if name != "up" and name not in exposed
    }
    assert missing == set()


def test_every_alert_metric_is_exported_by_a_running_feeder(exposed: set[str]) -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "feeder-alerts.yml").read_text())
    missing = {
        (rule["alert"], name)
        for group in rules["groups"]
        for rule in group["rules"]
        for name in metric_names(rule["expr"])
        if name != "up" and name not in exposed
    }
    assert missing == set()


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(name: str, document: Any) -> list[str]:
    return [error.message for error in validator(name).iter_errors(document)]


@pytest.mark.asyncio
async def test_events_read_back_from_kafka_validate_against_the_schemas(
    feed: LiveFeed, kafka_bootstrap: str
) -> None:
    topics = feed.settings.kafka.topics
    events = await read_topic(kafka_bootstrap, topics.events, at_least=1)
    fraud = await read_topic(kafka_bootstrap, topics.fraud, at_least=1)
    states = await read_topic(kafka_bootstrap, topics.state, at_least=1)
    letters = await read_topic(kafka_bootstrap, topics.dead_letter, at_least=1)
    types_seen = set()
    for record in events + fraud:
        assert record.value is not None
        event = orjson.loads(record.value)
        types_seen.add(event["type"])
        assert record.headers == {"content-type": STRUCTURED_CONTENT_TYPE.encode()}
        assert errors(event["type"], event) == [], event
    assert {"session.created", "session.entered", "session.suspected_fraud_changed"} <= types_seen
    assert {orjson.loads(r.value or b"")["type"] for r in fraud} == {
        "session.suspected_fraud_changed"
    }
    for record in states:
        assert errors(STATE_NAME, orjson.loads(record.value or b"")) == []
    assert letters
    for record in letters:
        document = record_document(record.key, record.headers.items(), record.value or b"")
        assert errors(DEAD_LETTER_NAME, document) == [], document


def feeder_command(feed: LiveFeed, *args: str) -> subprocess.CompletedProcess[str]:
    topics = feed.settings.kafka.topics
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FEEDER_")},
        "FEEDER_KAFKA__BOOTSTRAP_SERVERS": feed.settings.kafka.bootstrap_servers,
        "FEEDER_KAFKA__TOPICS__EVENTS": topics.events,
        "FEEDER_KAFKA__TOPICS__FRAUD": topics.fraud,
        "FEEDER_KAFKA__TOPICS__STATE": topics.state,
        "FEEDER_KAFKA__TOPICS__DEAD_LETTER": topics.dead_letter,
    }
    return subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "feeder", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_tail_prints_live_events_filtered_by_type(feed: LiveFeed) -> None:
    result = feeder_command(
        feed, "tail", "--from-beginning", "--max", "5", "--type", "session.entered"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert all("  session.entered  " in line for line in lines), lines
    assert "customerLastEnteredAt: " in lines[0]


def test_tail_shows_dead_letters_as_json(feed: LiveFeed) -> None:
    result = feeder_command(
        feed, "tail", "--topic", "dlq", "--from-beginning", "--max", "1", "--json"
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert errors(DEAD_LETTER_NAME, json.loads(line)) == []


def test_status_reads_the_live_checkpoint_and_metrics(feed: LiveFeed) -> None:
    result = feeder_command(
        feed,
        "status",
        "--checkpoint",
        str(feed.settings.checkpoint.path),
        "--metrics-url",
        feed.metrics_url,
        "--json",
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["problems"] == []
    checkpoint, metrics = document["checkpoint"], document["metrics"]
    assert checkpoint["committed"] is True
    assert checkpoint["tracked_sessions"] > 0
    assert all(
        checkpoint["live_cursor"] >= cursor["cursor"]
        for cursor in checkpoint["reread_cursors"].values()
    )
    assert "live" in metrics["sweeps"]
    assert {sweep for sweep in metrics["sweeps"] if sweep.startswith("reread_")}
    assert metrics["events_published_by_type"]["session.entered"] > 0
    assert metrics["dead_letters"] > 0
    assert metrics["version"]
    text = feeder_command(feed, "status", "--metrics-url", feed.metrics_url)
    assert text.returncode == 0, text.stderr
    assert "live         watermark" in text.stdout


def test_the_container_health_check_and_the_kubernetes_probes_pass(feed: LiveFeed) -> None:
    (healthcheck,) = [i for i in dockerfile_instructions() if i.keyword == "HEALTHCHECK"]
    command = json.loads(healthcheck.arguments.split(" CMD ", 1)[1])
    assert command[0] == "python"
    env = {**os.environ, "FEEDER_OBSERVABILITY__PORT": str(feed.app.metrics_port)}
    result = subprocess.run(  # noqa: S603 - the Dockerfile's own command
        [sys.executable, *command[1:]], env=env, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    base = f"http://127.0.0.1:{feed.app.metrics_port}"
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200


def test_status_never_writes_to_a_checkpoint_it_reads(feed: LiveFeed, tmp_path: Path) -> None:
    missing = feeder_command(feed, "status", "--checkpoint", str(tmp_path / "none.sqlite3"))
    assert missing.returncode == 1
    assert "FEEDER_CHECKPOINT__PATH" in missing.stderr
    assert not (tmp_path / "none.sqlite3").exists()
