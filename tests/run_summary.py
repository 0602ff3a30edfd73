"""Lines a test run prints at its end, by section (``fault injection``, ``ground truth``,
``container``): a test or fixture reports a line from whichever process runs it (one of the
workers ``./dev test`` starts, or the only one), and the process that prints the summary reads
them all. They are appended to a file per section in a folder the run's first process makes
(``FEEDER_TEST_SUMMARY_DIR``, inherited by the workers)."""

from __future__ import annotations

import os
from pathlib import Path

SECTIONS = ("fault injection", "ground truth", "container")
FOLDER_VARIABLE = "FEEDER_TEST_SUMMARY_DIR"


def report(section: str, line: str) -> None:
    """Add ``line`` to ``section`` of the run's summary."""
    assert section in SECTIONS, section
    folder = os.environ.get(FOLDER_VARIABLE)
    if folder is None:  # imported outside a pytest run (a benchmark): nowhere to print
        return
    with (Path(folder) / f"{section}.txt").open("a", encoding="utf-8") as lines:
        lines.write(line.replace("\n", " ") + "\n")


def reported(folder: Path) -> dict[str, list[str]]:
    """Every section's lines so far, in the order they were reported."""
    found: dict[str, list[str]] = {}
    for section in SECTIONS:
        path = folder / f"{section}.txt"
        if path.exists():
            found[section] = path.read_text(encoding="utf-8").splitlines()
    return found
