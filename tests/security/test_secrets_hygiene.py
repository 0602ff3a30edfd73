"""No credential ever leaves the process: a full feeder session (the simulator, a FeedApp, the
secured broker) with distinctive secrets, searched for in everything it produced — every log
record down to DEBUG of every library, /metrics, ``feeder status``, the topics (dead letters
included), the checkpoint file, error messages of failed starts — plus the warning for a
world-readable config file that holds credentials."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from feeder_devkit.simulator.server import run_simulator_in_thread
from pydantic import AnyHttpUrl, SecretStr

from feeder.commands.settings_loading import load_or_explain
from feeder.settings import FeederSettings
from tests.e2e.harness import busy_store, feeder_settings
from tests.feeder_command import feeder
from tests.ops.live_feed import feed_app_in_thread, wait_for
from tests.security.conftest import (
    KEY_PASSWORD,
    OAUTH_CLIENT_SECRET,
    SCRAM_PASSWORD,
    SecuredKafka,
    read_secured_topic,
)
from tests.worker_groups import SECURED_KAFKA

pytestmark = [pytest.mark.kafka, SECURED_KAFKA, pytest.mark.timeout(240)]

API_TOKEN = "api-token-K8fT3qWz5"
API_OAUTH_SECRET = "api-oauth-secret-M2xC7vNa4"


@dataclass(frozen=True)
class Session:
    """What one feeder session produced, as text to search."""

    outputs: dict[str, str]


def kafka_env(settings: FeederSettings) -> dict[str, str]:
    """The session's settings as the FEEDER_* variables an operator would set."""
    kafka = settings.kafka
    env = {
        "FEEDER_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "FEEDER_KAFKA__SECURITY_PROTOCOL": kafka.security_protocol,
        "FEEDER_CHECKPOINT__PATH": str(settings.checkpoint.path),
    }
    for name in (
        "sasl_mechanism",
        "sasl_username",
        "sasl_password",
        "sasl_oauth_token_url",
        "sasl_oauth_client_id",
        "sasl_oauth_client_secret",
        "ssl_cafile",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_key_password",
    ):
        value = getattr(kafka, name)
        if value is not None:
            shown = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            env[f"FEEDER_KAFKA__{name.upper()}"] = shown
    api = settings.api
    if api.token is not None:
        env["FEEDER_API__TOKEN"] = api.token.get_secret_value()
    if api.oauth_client_secret is not None:
        env["FEEDER_API__OAUTH_CLIENT_SECRET"] = api.oauth_client_secret.get_secret_value()
    return env


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"{result.stdout}\n{result.stderr}"


def session_settings(
    kind: str, kafka: SecuredKafka, api_url: str, checkpoint: Path
) -> FeederSettings:
    if kind == "token+scram+mtls":
        listener = "SASL_SSL"
        security: dict[str, Any] = {
            **kafka.sasl("SCRAM-SHA-512"),
            # The SASL_SSL listener does not ask for it, but the key is still decrypted with
            # the password: the password goes through every code path that could leak it.
            "ssl_certfile": kafka.files.client_cert,
            "ssl_keyfile": kafka.files.client_key_encrypted,
            "ssl_key_password": KEY_PASSWORD,
        }
    else:
        listener, security = "OAUTH", kafka.oauth()
    base = feeder_settings(api_url, API_TOKEN, kafka.broker.bootstrap_servers, checkpoint)
    api = base.api
    if kind == "oauth+oauthbearer":
        api = api.model_copy(
            update={
                "token": None,
                "oauth_token_url": AnyHttpUrl(f"{api_url}/oauth2/token"),
                "oauth_client_id": "sim-client",
                "oauth_client_secret": SecretStr(API_OAUTH_SECRET),
            }
        )
    secured = kafka.settings(listener, **security).model_copy(update={"partitions": 2})
    return base.model_copy(
        update={
            "api": api,
            "kafka": secured,
            "observability": base.observability.model_copy(update={"log_level": "DEBUG"}),
        }
    )


@pytest.fixture(params=["token+scram+mtls", "oauth+oauthbearer"])
def session(
    request: pytest.FixtureRequest,
    secured_kafka: SecuredKafka,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> Session:
    simulator = busy_store(seed=12, malformed_share=0.05)
    simulator = simulator.model_copy(
        update={
            "server": simulator.server.model_copy(
                update={
                    "token": SecretStr(API_TOKEN),
                    "oauth_client_secret": SecretStr(API_OAUTH_SECRET),
                }
            )
        }
    )
    caplog.set_level(logging.DEBUG)  # every logger, every library
    outputs: dict[str, str] = {}
    with run_simulator_in_thread(simulator) as sim:
        settings = session_settings(
            request.param, secured_kafka, sim.base_url, tmp_path / "cp.sqlite3"
        )
        outputs["settings repr"] = repr(settings) + str(settings)
        outputs["settings json"] = settings.model_dump_json()
        with feed_app_in_thread(settings) as app:
            metrics_url = f"http://127.0.0.1:{app.metrics_port}/metrics"

            def dead_letters_and_events() -> bool:
                text = httpx.get(metrics_url, timeout=10).text
                return "feeder_dead_letters_total{" in text and 'type="session.entered"' in text

            wait_for(dead_letters_and_events, timeout_s=120, what="events and a dead letter")
            outputs["/metrics"] = httpx.get(metrics_url, timeout=10).text
            env = kafka_env(settings)
            as_json = feeder("status", "--metrics-url", metrics_url, "--json", env=env)
            as_text = feeder("status", "--metrics-url", metrics_url, env=env)
            assert as_json.returncode == 0, as_json.stderr
            assert json.loads(as_json.stdout)["metrics"]["dead_letters"] > 0
            assert as_text.returncode == 0, as_text.stderr
            outputs["feeder status"] = output(as_json) + output(as_text)
        outputs["checkpoint file"] = (tmp_path / "cp.sqlite3").read_bytes().decode(errors="replace")
        topics = settings.kafka.topics
        for topic in (topics.events, topics.fraud, topics.state, topics.dead_letter):
            records = _read(settings, topic)
            outputs[f"topic {topic}"] = "\n".join(records)
        assert outputs[f"topic {topics.dead_letter}"], "the session produced no dead letter"
    outputs["logs"] = "\n".join(
        f"{record.name} {record.levelname} {record.getMessage()} {record.exc_text or ''}"
        for record in caplog.records
    )
    # Positive controls: the search covers the libraries' DEBUG records of the logins.
    login = "via SCRAM-SHA-512" if request.param == "token+scram+mtls" else "via OAUTHBEARER"
    assert (
        f"Authenticated {'as feeder-scram ' if 'scram' in request.param else ''}{login}"
        in (outputs["logs"])
    )
    assert "HTTP Request: GET" in outputs["logs"]
    return Session(outputs)


def _read(settings: FeederSettings, topic: str) -> list[str]:
    import asyncio  # noqa: PLC0415

    records = asyncio.run(read_secured_topic(settings.kafka, topic, at_least=0))
    return [f"{record.key!r} {record.value!r} {record.headers!r}" for record in records]


def secrets_in_use(secured_kafka: SecuredKafka) -> dict[str, str]:
    found = {
        "API token": API_TOKEN,
        "API OAuth client secret": API_OAUTH_SECRET,
        "SASL password": SCRAM_PASSWORD,
        "Kafka OAuth client secret": OAUTH_CLIENT_SECRET,
        "client key password": KEY_PASSWORD,
    }
    # The access tokens themselves are credentials too.
    found |= {
        f"Kafka access token {i}": token for i, token in enumerate(secured_kafka.issuer.issued)
    }
    return found


def test_no_secret_appears_in_anything_a_session_produced(
    session: Session, secured_kafka: SecuredKafka
) -> None:
    leaks = [
        (secret_name, where)
        for secret_name, secret in secrets_in_use(secured_kafka).items()
        for where, text in session.outputs.items()
        if secret in text
    ]
    assert leaks == []


def test_failed_starts_and_invalid_settings_never_quote_a_secret(
    secured_kafka: SecuredKafka, tmp_path: Path
) -> None:
    wrong = "wrong-pw-B6yU1oPs3"
    settings = session_settings(
        "token+scram+mtls", secured_kafka, "http://127.0.0.1:9", tmp_path / "cp.sqlite3"
    )
    env = kafka_env(settings) | {"FEEDER_KAFKA__SASL_PASSWORD": wrong}
    refused = output(feeder("check", env=env))
    assert "FEEDER_KAFKA__SASL_PASSWORD" in refused
    # A secret set where it does not apply is named, never shown (pydantic would quote it).
    misplaced = {
        "FEEDER_API__TOKEN": API_TOKEN,
        "FEEDER_KAFKA__SASL_PASSWORD": SCRAM_PASSWORD,
        "FEEDER_KAFKA__SSL_KEY_PASSWORD": KEY_PASSWORD,
    }
    outputs = {
        "check, wrong password": refused,
        "run, misplaced secrets": output(feeder("run", env=misplaced)),
        "tail, misplaced secrets": output(feeder("tail", env=misplaced)),
        "status, misplaced secrets": output(feeder("status", env=misplaced)),
    }
    for where, text in outputs.items():
        assert "FEEDER_KAFKA__" in text, (where, text)
        for secret in (wrong, API_TOKEN, SCRAM_PASSWORD, KEY_PASSWORD):
            assert secret not in text, (where, text)


SECRET_CONFIG = '[api]\ntoken = "t0k3n"\n[kafka]\nsecurity_protocol = "SASL_SSL"\n' + (
    'sasl_mechanism = "SCRAM-SHA-256"\nsasl_username = "u"\nsasl_password = "p"\n'
)


@pytest.mark.parametrize(
    "case",
    [
        (0o644, SECRET_CONFIG, True),
        (0o604, SECRET_CONFIG, True),
        (0o640, SECRET_CONFIG, False),
        (0o600, SECRET_CONFIG, False),
        (0o644, "[kafka]\npartitions = 3\n", False),
    ],
)
def test_a_world_readable_config_file_with_secrets_gets_a_warning(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[int, str, bool],
) -> None:
    mode, text, warned = case
    for name in list(os.environ):
        if name.startswith("FEEDER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FEEDER_API__TOKEN", "t")
    config = tmp_path / "feeder.toml"
    config.write_text(text)
    config.chmod(mode)
    assert load_or_explain(config) is not None
    stderr = capsys.readouterr().err
    if warned:
        assert f"warning: {config} holds credentials (api.token, kafka.sasl_password)" in stderr
        assert f"(mode {mode:04o})" in stderr
        assert f"chmod 600 {config}" in stderr
        assert "t0k3n" not in stderr
    else:
        assert stderr == ""
