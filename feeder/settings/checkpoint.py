"""The checkpoint group: which store, and where."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from feeder.settings.base import SettingsGroup


class CheckpointSettings(SettingsGroup):
    """Where per-session state and the watermarks are kept."""

    backend: Literal["sqlite", "kafka", "memory"] = Field(
        "sqlite",
        description="sqlite (a file on this host), kafka (the compacted topic "
        "kafka.topics.checkpoint: any host can take the feed over; needed by exactly-once) or "
        "memory (tests and demos; lost on exit)",
    )
    path: Path = Field(
        Path("var/feeder.sqlite3"),
        description="sqlite: the checkpoint file; kafka: its local cache, rebuilt from the "
        "topic at every start",
    )
