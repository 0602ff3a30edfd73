"""The heartbeat group: the feed's watermarks on a topic of their own."""

from __future__ import annotations

from pydantic import Field, model_validator

from feeder.settings.base import SettingsGroup


class HeartbeatSettings(SettingsGroup):
    """Heartbeats: the feed's watermarks, so consumers tell "no changes" from "feed stuck"."""

    enabled: bool = Field(True, description="publish heartbeats to kafka.topics.heartbeat")
    interval_s: float = Field(10.0, gt=0, description="seconds between heartbeats")

    @model_validator(mode="before")
    @classmethod
    def _feed_name_moved(cls, data: object) -> object:
        if isinstance(data, dict) and "feed_name" in data:
            raise ValueError("FEEDER_HEARTBEAT__FEED_NAME moved to FEEDER_FEED_NAME")
        return data

    partition_watermarks: bool = Field(
        False,
        description="also put each heartbeat as a feeder.watermark CloudEvent on every "
        "partition of the events topic (for stream processors' event time)",
    )
