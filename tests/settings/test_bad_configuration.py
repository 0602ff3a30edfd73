"""Bad configuration stops ``feeder run`` at start-up with a message naming the setting: unknown
keys, impossible values, an API or broker that cannot be reached, and topics whose cleanup
policy would lose data. Each case runs the real command as a process."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from feeder_devkit.localkafka.broker import free_port
from feeder_devkit.simulator.server import ThreadedSimulator

from feeder.commands.settings_loading import load_or_explain
from tests.feeder_command import feeder

pytestmark = pytest.mark.timeout(180)


def good_env(sim: ThreadedSimulator, bootstrap: str, tmp_path: Path) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "FEEDER_API__BASE_URL": sim.base_url,
        "FEEDER_API__TOKEN": sim.token,
        "FEEDER_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "FEEDER_KAFKA__SEND_TIMEOUT_S": "5",
        "FEEDER_KAFKA__TOPICS__EVENTS": f"events-{suffix}",
        "FEEDER_KAFKA__TOPICS__FRAUD": f"fraud-{suffix}",
        "FEEDER_KAFKA__TOPICS__STATE": f"state-{suffix}",
        "FEEDER_KAFKA__TOPICS__DEAD_LETTER": f"dlq-{suffix}",
        "FEEDER_KAFKA__TOPICS__HEARTBEAT": f"heartbeat-{suffix}",
        "FEEDER_KAFKA__TOPICS__CHECKPOINT": f"checkpoint-{suffix}",
        "FEEDER_CHECKPOINT__PATH": str(tmp_path / "cp.sqlite3"),
        "FEEDER_OBSERVABILITY__PORT": "0",
    }


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (
            '[kafka]\nsasl_pasword = "x"\n',
            "FEEDER_KAFKA__SASL_PASWORD: Extra inputs are not permitted",
        ),
        ("[kafak]\npartitions = 3\n", "FEEDER_KAFAK: Extra inputs are not permitted"),
        ("[api]\npage_size = 500\n", "FEEDER_API__PAGE_SIZE: Input should be less than or equal"),
        (
            '[kafka]\nsecurity_protocol = "TLS"\n',
            "FEEDER_KAFKA__SECURITY_PROTOCOL: Input should be",
        ),
        (
            "[kafka]\nmax_record_bytes = 2000000\n",
            "FEEDER_KAFKA__MAX_RECORD_BYTES must not exceed FEEDER_KAFKA__MAX_BATCH_BYTES",
        ),
        ("[sweep]\nsession_retention_s = 10\n", "FEEDER_SWEEP__SESSION_RETENTION_S must be"),
        (
            '[kafka]\nsecurity_protocol = "SSL"\nssl_cafile = "/nowhere/ca.pem"\n',
            "FEEDER_KAFKA__SSL_CAFILE: Path does not point to a file",
        ),
        (
            '[kafka]\nsecurity_protocol = "SASL_SSL"\nsasl_mechanism = "SCRAM-SHA-512"\n',
            "FEEDER_KAFKA__SASL_MECHANISM=SCRAM-SHA-512 needs FEEDER_KAFKA__SASL_USERNAME, "
            "FEEDER_KAFKA__SASL_PASSWORD",
        ),
    ],
)
def test_unknown_keys_and_impossible_values_are_named_before_anything_starts(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config: str,
    named: str,
) -> None:
    for name in list(os.environ):
        if name.startswith("FEEDER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FEEDER_API__TOKEN", "t")
    path = tmp_path / "feeder.toml"
    path.write_text(config)
    assert load_or_explain(path) is None
    assert named in capsys.readouterr().err


def test_feeder_run_stops_with_status_2_naming_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "feeder.toml"
    path.write_text('[kafka]\nsasl_pasword = "x"\n')
    result = feeder("run", "--config", str(path), env={"FEEDER_API__TOKEN": "t"})
    assert result.returncode == 2, result.stderr
    assert "FEEDER_KAFKA__SASL_PASWORD: Extra inputs are not permitted" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_environment_key_is_named() -> None:
    result = feeder(
        "run", env={"FEEDER_API__TOKEN": "t", "FEEDER_KAFKA__BOOTSTRAP_SERVER": "kafka:9092"}
    )
    assert result.returncode == 2
    assert "FEEDER_KAFKA__BOOTSTRAP_SERVER: Extra inputs are not permitted" in result.stderr


@pytest.mark.kafka
def test_an_unreachable_broker_stops_the_start_naming_the_setting(
    simulator: ThreadedSimulator, tmp_path: Path
) -> None:
    env = {**good_env(simulator, f"127.0.0.1:{free_port()}", tmp_path)}
    result = feeder("run", env=env)  # it stops instead of retrying for ever
    assert result.returncode == 1, result.stderr
    assert "FEEDER_KAFKA__BOOTSTRAP_SERVERS" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.kafka
def test_an_unreachable_api_stops_the_start_naming_the_setting(
    kafka_bootstrap: str, simulator: ThreadedSimulator, tmp_path: Path
) -> None:
    env = {
        **good_env(simulator, kafka_bootstrap, tmp_path),
        "FEEDER_API__BASE_URL": f"http://127.0.0.1:{free_port()}",
        "FEEDER_API__MAX_ATTEMPTS": "2",
    }
    result = feeder("run", env=env)
    assert result.returncode == 1, result.stderr
    assert "cannot reach the sessions API at start-up" in result.stderr
    assert "FEEDER_API__BASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.kafka
def test_a_refused_api_token_stops_the_start_naming_the_setting(
    kafka_bootstrap: str, simulator: ThreadedSimulator, tmp_path: Path
) -> None:
    env = {**good_env(simulator, kafka_bootstrap, tmp_path), "FEEDER_API__TOKEN": "stale"}
    result = feeder("run", env=env)
    assert result.returncode == 1, result.stderr
    assert "FEEDER_API__TOKEN" in result.stderr
    assert "stale" not in result.stderr


async def create_topic(bootstrap: str, name: str, policy: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs={"cleanup.policy": policy})])
    finally:
        await admin.close()


@pytest.mark.kafka
@pytest.mark.parametrize(
    "case",
    [
        ("STATE", "delete", "holds the latest record per key and must be compacted"),
        ("CHECKPOINT", "delete", "holds the latest record per key and must be compacted"),
        ("EVENTS", "compact", "compaction would keep only the last record of each session"),
        ("DEAD_LETTER", "compact,delete", "compaction would keep only the last record"),
    ],
)
def test_an_existing_topic_with_the_wrong_cleanup_policy_stops_the_start(
    kafka_bootstrap: str,
    simulator: ThreadedSimulator,
    tmp_path: Path,
    case: tuple[str, str, str],
) -> None:
    topic, policy, named = case
    env = good_env(simulator, kafka_bootstrap, tmp_path)
    name = env[f"FEEDER_KAFKA__TOPICS__{topic}"]
    asyncio.run(create_topic(kafka_bootstrap, name, policy))
    for command in ("run", "check") if topic == "STATE" else ("run",):
        result = feeder(command, env=env)
        assert result.returncode == 1, result.stderr
        assert f"topic {name} (FEEDER_KAFKA__TOPICS__{topic}) has cleanup.policy={policy}" in (
            result.stderr
        )
        assert named in result.stderr
