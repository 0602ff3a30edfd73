"""Ground-truth tests report what they excused; the summary prints at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.run_summary import report


@pytest.fixture
def ground_truth_report(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Lines a test wants in the run's summary (what it checked, what it excused)."""
    lines: list[str] = []
    yield lines
    for line in lines:
        report("ground truth", f"{request.node.name}: {line}")
