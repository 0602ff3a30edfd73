"""The README's main command: ``feeder demo`` shows events and stops cleanly on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


def test_demo_prints_events_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "feeder", "demo", "--api-port", "0", "--metrics-port", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "session.entered" not in log.read_text() and time.monotonic() < deadline:
            assert demo.poll() is None, log.read_text()
            time.sleep(0.5)
        demo.send_signal(signal.SIGINT)
        exit_code = demo.wait(60)
    finally:
        if demo.poll() is None:
            demo.kill()
    output = log.read_text()
    assert exit_code == 0, output[-3000:]
    assert "session.created" in output
    assert "session.entered" in output
    assert "/metrics" in output
    assert output.rstrip().endswith("demo stopped")
    assert "Traceback" not in output
