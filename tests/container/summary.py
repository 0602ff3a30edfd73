"""The figures the container tests report, in the ``container`` section of pytest's summary at
the end of the run (:mod:`tests.run_summary`)."""

from __future__ import annotations

from tests import run_summary


def report(line: str) -> None:
    """A line for the ``container`` section of the run's summary."""
    run_summary.report("container", line)
