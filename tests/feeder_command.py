"""``feeder ARGS`` as a process, the way a user types it: none of the test run's ``FEEDER_*``
variables, only the settings the test gives, the output captured, a deadline."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping


def without_feeder_settings() -> dict[str, str]:
    """This process's environment without its ``FEEDER_*`` variables."""
    return {key: value for key, value in os.environ.items() if not key.startswith("FEEDER_")}


def feeder(
    *args: str, env: Mapping[str, str], timeout_s: float = 100
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m feeder ARGS`` with ``env`` as its only settings; never raises on a
    non-zero exit (the tests look at it)."""
    return subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "feeder", *args],
        env={**without_feeder_settings(), **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
