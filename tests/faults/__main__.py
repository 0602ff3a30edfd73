"""``python -m tests.faults``: the fault-injection suite in its long form (≥ 100 kills of the
feeder, a 60 s broker outage, …); one line per scenario at the end. Extra arguments go to
pytest (e.g. ``-k kill``)."""

from __future__ import annotations

import os
import sys

import pytest

if __name__ == "__main__":
    os.environ["FEEDER_FAULTS_LONG"] = "1"
    sys.exit(
        pytest.main(
            ["tests/faults", "-p", "no:randomly", "-o", "timeout=3600", "-q", *sys.argv[1:]]
        )
    )
