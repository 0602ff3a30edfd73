"""Fixtures for the operations tests: repository paths, promtool and prometheus."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _prometheus_tool(name: str) -> str:
    """Path of ``name``; fails (never skips) when it is missing, so CI cannot pass without it."""
    found = shutil.which(name)
    beside_python = Path(sys.executable).with_name(name)
    if found is None and beside_python.is_file():
        found = str(beside_python)
    if found is None:
        pytest.fail(
            f"{name} is not on PATH: `./dev test` takes it from Debian's prometheus package into "
            "~/.cache/feeder/prometheus/bin and puts that on PATH; by hand: "
            "`apt-get install prometheus`"
        )
    return found


@pytest.fixture(scope="session")
def promtool() -> str:
    return _prometheus_tool("promtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    return _prometheus_tool("prometheus")
