"""The fault scenarios print one line each at the end of the run (``fault injection``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.tally import Tally

_LINES: list[str] = []


@pytest.fixture
def fault_report() -> Iterator[list[Tally]]:
    """Tallies a scenario wants in the run's summary."""
    tallies: list[Tally] = []
    yield tallies
    _LINES.extend(t.line() for t in tallies)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LINES:
        terminalreporter.section("fault injection")
        for line in _LINES:
            terminalreporter.write_line(line)
