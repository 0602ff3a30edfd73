"""``feeder backfill --metrics-port`` as a real process: it prints where its metrics are, serves
them while it runs, stops serving when it ends with the exit code it always had, and refuses a
port it cannot listen on."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from feeder_devkit.simulator.server import run_simulator_in_thread

from tests.e2e.feeder_process import samples
from tests.e2e.harness import now
from tests.e2e.test_commands import feeder
from tests.e2e.test_sliced_backfill import PAGE_SIZE, SESSIONS, remote_store
from tests.feeder_command import without_feeder_settings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

ADDRESS = re.compile(r"backfill metrics at http://127\.0\.0\.1:(\d+)/metrics")


def records_scraped(port: int) -> float:
    """``feeder_backfill_records_total`` of the process on ``port`` (0 while it is not up)."""
    return sum(value for name, _, value in samples(port) if name == "feeder_backfill_records_total")


def test_the_command_serves_metrics_while_it_runs_and_then_stops_listening(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with run_simulator_in_thread(remote_store()) as sim:
        start, end = now() - timedelta(hours=2), now()
        env = {
            "FEEDER_API__BASE_URL": sim.base_url,
            "FEEDER_API__TOKEN": sim.token,
            "FEEDER_API__PAGE_SIZE": str(PAGE_SIZE),
            "FEEDER_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            "FEEDER_CHECKPOINT__PATH": str(tmp_path / "live.sqlite3"),
        }
        command = [sys.executable, "-m", "feeder", "backfill"]
        window = ["--from", start.isoformat(), "--to", end.isoformat()]
        options = ["--slices", "6", "--concurrency", "2", "--metrics-host", "127.0.0.1"]
        with subprocess.Popen(  # noqa: S603 - our own command
            [*command, *window, *options, "--metrics-port", "0"],
            env={**feeder_environment(), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            assert process.stderr is not None
            address = None
            for line in process.stderr:  # printed once, before the first request
                address = ADDRESS.search(line)
                if address is not None:
                    break
            assert address is not None, "no metrics address on stderr"
            port = int(address.group(1))
            deadline = time.monotonic() + 120
            while records_scraped(port) == 0 and process.poll() is None:
                assert time.monotonic() < deadline, "no records on /metrics in 120 s"
                time.sleep(0.02)
            seen = records_scraped(port)
            stdout, stderr = process.communicate(timeout=150)
    assert process.returncode == 0, stderr
    assert 0 < seen <= SESSIONS  # scraped while it ran
    assert f"{SESSIONS:,} records" in stdout, stdout
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_a_port_it_cannot_listen_on_is_refused_naming_the_flag(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = feeder(
            "backfill",
            "--from",
            (now() - timedelta(hours=1)).isoformat(),
            "--metrics-host",
            "127.0.0.1",
            "--metrics-port",
            str(port),
            env={
                "FEEDER_API__BASE_URL": "http://127.0.0.1:9",
                "FEEDER_API__TOKEN": "unused",
                "FEEDER_CHECKPOINT__PATH": str(tmp_path / "live.sqlite3"),
            },
        )
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--metrics-port" in result.stderr
    assert not list(tmp_path.glob("backfill-*.sqlite3"))  # refused before it began


def feeder_environment() -> dict[str, str]:
    """This process's environment without its own ``FEEDER_`` settings (as ``feeder`` does)."""
    return without_feeder_settings()
