"""How hard the fault scenarios push: the suite's short form, or the long one."""

from __future__ import annotations

import os

LONG = os.environ.get("FEEDER_FAULTS_LONG") == "1"
"""The long form (``python -m tests.faults``): ≥ 100 kills, a 60 s broker outage."""
