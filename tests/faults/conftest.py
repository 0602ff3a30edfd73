"""The fault scenarios print one line each at the end of the run (``fault injection``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tests.e2e.tally import Tally

_LINES: list[str] = []


@pytest.fixture
def fault_report() -> Iterator[list[Tally | str]]:
    """Tallies (and lines of other figures) a scenario wants in the run's summary."""
    tallies: list[Tally | str] = []
    yield tallies
    _LINES.extend(t if isinstance(t, str) else t.line() for t in tallies)


@pytest.fixture
def abandoned_producers_collected() -> Iterator[None]:
    """Collect garbage after the test's event loop closed, so what it leaves to the collector
    is warned about in this test (where it is expected), not in a later one."""
    yield
    gc.collect()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LINES:
        terminalreporter.section("fault injection")
        for line in _LINES:
            terminalreporter.write_line(line)
