"""What the settings tests share: a quiet simulator for commands that must reach an API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from feeder_devkit.simulator.server import ThreadedSimulator, run_simulator_in_thread
from feeder_devkit.simulator.settings import SimulatorSettings


@pytest.fixture(scope="module")
def simulator() -> Iterator[ThreadedSimulator]:
    """A paused simulator (no traffic), one per test module."""
    settings = SimulatorSettings.model_validate(
        {"server": {"port": 0}, "traffic": {"seed": 8, "start_paused": True}}
    )
    with run_simulator_in_thread(settings) as sim:
        yield sim
