"""The figures the container tests report, printed in the ``container`` section of pytest's
summary at the end of the run (``conftest.pytest_terminal_summary``)."""

from __future__ import annotations

LINES: list[str] = []


def report(line: str) -> None:
    """A line for the ``container`` section of the run's summary."""
    LINES.append(line)
