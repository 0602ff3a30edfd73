"""The fault scenarios print one line each at the end of the run (``fault injection``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tests.e2e.tally import Tally
from tests.run_summary import report


@pytest.fixture
def fault_report() -> Iterator[list[Tally | str]]:
    """Tallies (and lines of other figures) a scenario wants in the run's summary."""
    tallies: list[Tally | str] = []
    yield tallies
    for tally in tallies:
        report("fault injection", tally if isinstance(tally, str) else tally.line())


@pytest.fixture
def abandoned_producers_collected() -> Iterator[None]:
    """Collect garbage after the test's event loop closed, so what it leaves to the collector
    is warned about in this test (where it is expected), not in a later one."""
    yield
    gc.collect()
