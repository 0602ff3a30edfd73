"""A path given at start-up that cannot be used stops the command with a line naming the path and
what to change, never a traceback: ``--config`` files, token and TLS files, checkpoint and
backfill state files, ``feeder checkpoint``'s and ``feeder schemas``' paths. Bad input exits as
its kind does elsewhere: 2 for the command line and the settings, 1 for what opening the
checkpoint finds. Each case runs the real command as a process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from feeder_devkit.localkafka.broker import free_port
from feeder_devkit.simulator.server import ThreadedSimulator

from tests.feeder_command import feeder

pytestmark = pytest.mark.timeout(120)


def settings_env(tmp_path: Path, bootstrap: str | None = None) -> dict[str, str]:
    """Valid settings; nothing listens at the API, nor at Kafka unless ``bootstrap`` is given."""
    return {
        "FEEDER_API__BASE_URL": f"http://127.0.0.1:{free_port()}",
        "FEEDER_API__TOKEN": "t",
        "FEEDER_API__MAX_ATTEMPTS": "1",
        "FEEDER_KAFKA__BOOTSTRAP_SERVERS": bootstrap or f"127.0.0.1:{free_port()}",
        "FEEDER_CHECKPOINT__PATH": str(tmp_path / "feeder.sqlite3"),
        "FEEDER_OBSERVABILITY__PORT": "0",
    }


def stopped(result: subprocess.CompletedProcess[str], status: int, message: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert message in result.stderr, result.stderr
    assert result.returncode == status, result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["check"],
        ["run"],
        ["backfill", "--from", "2026-01-01T00:00:00Z"],
        ["verify", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z"],
    ],
)
def test_a_config_file_that_does_not_exist_is_named(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "feeder.toml"
    result = feeder(*command, "--config", str(missing), env=settings_env(tmp_path))
    stopped(result, 2, f"error: the config file {missing} does not exist (--config)")


def test_a_config_file_that_is_a_folder_is_named(tmp_path: Path) -> None:
    result = feeder("check", "--config", str(tmp_path), env=settings_env(tmp_path))
    stopped(result, 2, f"error: the config file {tmp_path} is not a file (--config)")


def test_a_config_file_that_is_not_toml_is_named(tmp_path: Path) -> None:
    path = tmp_path / "feeder.toml"
    path.write_text("api.base_url http://oasis\n")
    result = feeder("check", "--config", str(path), env=settings_env(tmp_path))
    stopped(result, 2, f"error: cannot read the config file {path}: ")


def test_a_token_file_that_does_not_exist_is_named(tmp_path: Path) -> None:
    env = settings_env(tmp_path)
    del env["FEEDER_API__TOKEN"]
    missing = tmp_path / "token"
    result = feeder("check", env={**env, "FEEDER_API__TOKEN_FILE": str(missing)})
    stopped(result, 1, f"API: token file {missing} does not exist; check FEEDER_API__TOKEN_FILE")


def test_a_tls_file_that_does_not_exist_is_named(tmp_path: Path) -> None:
    env = {
        **settings_env(tmp_path),
        "FEEDER_KAFKA__SECURITY_PROTOCOL": "SSL",
        "FEEDER_KAFKA__SSL_CAFILE": str(tmp_path / "ca.pem"),
    }
    result = feeder("check", env=env)
    stopped(result, 2, "FEEDER_KAFKA__SSL_CAFILE: Path does not point to a file")


def test_a_checkpoint_under_a_file_stops_the_run_naming_the_setting(tmp_path: Path) -> None:
    blocking = tmp_path / "var"
    blocking.write_text("not a folder")
    env = {**settings_env(tmp_path), "FEEDER_CHECKPOINT__PATH": str(blocking / "feeder.sqlite3")}
    result = feeder("run", env=env)
    stopped(result, 1, f"{blocking} is a file, not a folder; check FEEDER_CHECKPOINT__PATH")


@pytest.mark.kafka
def test_a_backfill_state_under_a_file_is_named(
    simulator: ThreadedSimulator, kafka_bootstrap: str, tmp_path: Path
) -> None:
    blocking = tmp_path / "states"
    blocking.write_text("not a folder")
    env = {
        **settings_env(tmp_path, kafka_bootstrap),
        "FEEDER_API__BASE_URL": simulator.base_url,
        "FEEDER_API__TOKEN": simulator.token,
    }
    result = feeder(
        "backfill", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T01:00:00Z",
        "--slices", "1", "--state", str(blocking / "window.sqlite3"), env=env,
    )  # fmt: skip
    stopped(result, 1, f"{blocking} is a file, not a folder")


def test_checkpoint_show_names_a_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "feeder.sqlite3"
    path.write_text("not a database, but long enough for SQLite to look at its header\n" * 4)
    result = feeder("checkpoint", "show", "--checkpoint", str(path), env={})
    stopped(result, 1, f"error: cannot read the checkpoint at {path}: file is not a database")


def test_schemas_names_an_out_path_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "schemas"
    path.write_text("a file")
    result = feeder("schemas", "--out", str(path), env={})
    stopped(result, 2, f"error: --out {path} is not a folder")
