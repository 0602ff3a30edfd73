"""All of feeder's settings: every group, the feeds of one config, and how they are loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from feeder.settings.api import ApiSettings
from feeder.settings.base import EnvSettings
from feeder.settings.checkpoint import CheckpointSettings
from feeder.settings.delivery import DeliverySettings
from feeder.settings.events import EventSettings
from feeder.settings.heartbeat import HeartbeatSettings
from feeder.settings.kafka import KafkaSettings
from feeder.settings.observability import ObservabilitySettings
from feeder.settings.replicas import ReplicaSettings
from feeder.settings.sweep import SweepSettings


class FeederSettings(EnvSettings):
    """All of feeder's settings."""

    feed_name: str = Field(
        "oasis-sessions",
        min_length=1,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="the feed's name: the key and `feed` of its heartbeats, and its Kafka "
        "transactional.id (feeder-<feed_name>): two instances with one name are one feed, the "
        "newer fences the older",
    )
    api: ApiSettings = Field(default_factory=ApiSettings)  # validates: names a missing credential
    sweep: SweepSettings = Field(default_factory=SweepSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    events: EventSettings = Field(default_factory=EventSettings)
    heartbeat: HeartbeatSettings = Field(default_factory=HeartbeatSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    replicas: ReplicaSettings = Field(default_factory=ReplicaSettings)
    feeds: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="several feeds in one config: feed name -> settings that differ from these "
        "(api, sweep, kafka.topics, events, …), e.g. a TOML [feeds.store-7.api] table or JSON; "
        "each feed's checkpoint topic and cache default to these with .<name> appended; empty: "
        "one feed, these settings",
    )

    @model_validator(mode="after")
    def _exactly_once_is_possible(self) -> FeederSettings:
        if self.delivery.mode == "exactly-once" and self.checkpoint.backend != "kafka":
            raise ValueError(
                "FEEDER_DELIVERY__MODE=exactly-once needs FEEDER_CHECKPOINT__BACKEND=kafka (the "
                "checkpoint must be written in the same Kafka transaction as the events)"
            )
        if self.replicas.enabled and self.checkpoint.backend != "kafka":
            raise ValueError(
                "FEEDER_REPLICAS__ENABLED needs FEEDER_CHECKPOINT__BACKEND=kafka (a feed moving "
                "to another replica finds its checkpoint in Kafka)"
            )
        if self.delivery.transaction_timeout_s <= self.kafka.send_timeout_s:
            raise ValueError(
                "FEEDER_DELIVERY__TRANSACTION_TIMEOUT_S must exceed FEEDER_KAFKA__SEND_TIMEOUT_S"
            )
        return self

    @property
    def transactional_id(self) -> str:
        """The Kafka transactional.id of this feed (the Kafka checkpoint store fences with it)."""
        return f"feeder-{self.feed_name}"


def load_settings(config_file: Path | None = None) -> FeederSettings:
    """Read the settings from the environment over the optional TOML ``config_file``.

    Raises ``pydantic.ValidationError`` naming each invalid setting.
    """
    if config_file is None:
        return FeederSettings()

    class _FileBackedSettings(FeederSettings):
        model_config = SettingsConfigDict(toml_file=config_file)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    return _FileBackedSettings()
