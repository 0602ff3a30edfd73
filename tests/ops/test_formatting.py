"""Durations and sizes as the commands print them."""

from __future__ import annotations

import pytest

from feeder.commands.formatting import format_bytes, format_duration


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (4.25, "4.2 s"), (-30, "-30.0 s"), (300, "5.0 min"), (7200, "2.0 h"),
     (43_106_000_000 / 1000, "498.9 d")],
)  # fmt: skip
def test_durations(seconds: float | None, shown: str) -> None:
    assert format_duration(seconds) == shown


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0 B"), (1023, "1023 B"), (20480, "20.0 KiB"), (5 * 2**20, "5.0 MiB"),
     (3 * 2**40, "3072.0 GiB")],
)  # fmt: skip
def test_sizes(size: int, shown: str) -> None:
    assert format_bytes(size) == shown
