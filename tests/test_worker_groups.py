"""``./dev test``'s workers keep each ``xdist_group`` together (tests/worker_groups.py): a
pytest or pytest-xdist release that silently stopped grouping (pytest-xdist #1386) would start
the groups' expensive fixtures once per worker and let tests that stop a shared broker run at
once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GROUPED = """
import os
import pytest

pytestmark = pytest.mark.xdist_group("together")


@pytest.mark.parametrize("n", range(6))
def test_records_its_worker(n):
    with open(os.path.join(os.environ["RECORDS"], f"ran-{n}"), "w") as record:
        record.write(os.environ["PYTEST_XDIST_WORKER"])
"""


def test_a_group_runs_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    records = tmp_path / "records"
    records.mkdir()
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
            "-n", "3", "--dist", "loadgroup", "-o", "asyncio_default_fixture_loop_scope=function",
            str(tmp_path / "test_grouped.py"),
        ],
        cwd=tmp_path,
        env={**os.environ, "RECORDS": str(records)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    ran = [path.read_text() for path in records.glob("ran-*")]
    assert len(ran) == 6, result.stdout
    workers = set(ran)
    assert len(workers) == 1, f"one group ran on workers {sorted(workers)}"
