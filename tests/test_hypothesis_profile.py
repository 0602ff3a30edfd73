"""The suite's Hypothesis profile prints what replays a failure found on a clean clone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FAILING_PROPERTY = """
from hypothesis import given, strategies as st
from tests.hypothesis_profiles import load_profile

load_profile()


@given(st.integers())
def test_small(n):
    assert n < 1000
"""


def test_a_failing_property_prints_the_line_that_replays_it(tmp_path: Path) -> None:
    (tmp_path / "test_failing_property.py").write_text(FAILING_PROPERTY)
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "test_small(" in result.stdout, result.stdout
    assert "@reproduce_failure(" in result.stdout, result.stdout
    assert not (tmp_path / ".hypothesis").exists(), "the ci profile keeps no example database"
