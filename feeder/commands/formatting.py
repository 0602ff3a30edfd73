"""How the commands write durations and sizes for people."""

from __future__ import annotations


def format_duration(seconds: float | None) -> str:
    """``4.2 s``, ``3.5 min``, ``2.0 h``, ``3.1 d``; ``-`` for none."""
    if seconds is None:
        return "-"
    if abs(seconds) < 120:
        return f"{seconds:.1f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f} min"
    if abs(seconds) < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:,.1f} d"


def format_bytes(size: int) -> str:
    """``812 B``, ``48.0 KiB``, ``1.2 MiB``, ``3.4 GiB``."""
    if size < 1024:
        return f"{size} B"
    scaled = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GiB":
            break
    return f"{scaled:.1f} {unit}"
