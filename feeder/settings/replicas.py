"""The replicas group: sharing feeds through a Kafka consumer group."""

from __future__ import annotations

import socket

from pydantic import Field, model_validator

from feeder.settings.base import SettingsGroup


class ReplicaSettings(SettingsGroup):
    """Replicas of feeder sharing the feeds (``feeds``) through a Kafka consumer group."""

    enabled: bool = Field(
        False,
        description="join the replica group: each feed runs on exactly one replica, and moves "
        "to another one when its replica dies or leaves (needs checkpoint.backend=kafka)",
    )
    group_id: str = Field("feeder-replicas", min_length=1, description="Kafka consumer group")
    control_topic: str = Field(
        "feeder.control",
        description="topic whose partitions stand for the feeds (one per feed, in name order); "
        "created if missing",
    )
    replica_name: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        description="this replica's name in metrics, logs and feeder status [default: host name]",
    )
    session_timeout_s: float = Field(
        10.0,
        gt=0,
        description="a replica not heard from for this long is dead: its feeds move (a clean "
        "stop moves them at once)",
    )
    heartbeat_interval_s: float = Field(
        3.0, gt=0, description="how often a replica tells the group it is alive"
    )

    @model_validator(mode="after")
    def _heartbeats_within_session(self) -> ReplicaSettings:
        if self.heartbeat_interval_s >= self.session_timeout_s:
            raise ValueError(
                "FEEDER_REPLICAS__HEARTBEAT_INTERVAL_S must be shorter than "
                "FEEDER_REPLICAS__SESSION_TIMEOUT_S"
            )
        return self
