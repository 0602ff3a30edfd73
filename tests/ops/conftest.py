"""Fixtures for the operations tests: repository paths and promtool."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool; fails (never skips) when it is missing, so CI cannot pass without it."""
    found = shutil.which("promtool")
    beside_python = Path(sys.executable).with_name("promtool")
    if found is None and beside_python.is_file():
        found = str(beside_python)
    if found is None:
        pytest.fail(
            "promtool is not installed: `./dev test` installs it into the virtual environment "
            "(from Debian's prometheus package); by hand: `apt-get install prometheus`"
        )
    return found
