"""The observability group: metrics, health and logs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from feeder.settings.base import SettingsGroup


class ObservabilitySettings(SettingsGroup):
    """Metrics, health and logs."""

    host: str = Field("127.0.0.1", description="address of /metrics, /healthz and /readyz")
    port: int = Field(9464, ge=0, le=65535, description="port of the metrics server")
    ready_max_sweep_age_s: float = Field(
        60.0, gt=0, description="/readyz fails when the last good sweep is older than this"
    )
    log_format: Literal["text", "json"] = Field("text", description="log line format")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
