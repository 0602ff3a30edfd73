"""Every setting feeder reads, in nested groups; validated once at start-up and passed explicitly.

Environment variables use the prefix ``FEEDER_`` and ``__`` between a group and its field
(``FEEDER_API__BASE_URL``); a TOML file given with ``--config`` supplies defaults that the
environment overrides.
"""

from feeder.settings.api import ApiSettings
from feeder.settings.base import EnvSettings, PartialEnvSettings, SettingsGroup
from feeder.settings.checkpoint import CheckpointSettings
from feeder.settings.delivery import DeliverySettings
from feeder.settings.events import MIN_PSEUDONYM_KEY_CHARS, EventSettings
from feeder.settings.feed import FeederSettings, load_settings
from feeder.settings.heartbeat import HeartbeatSettings
from feeder.settings.kafka import (
    KafkaSettings,
    SaslMechanism,
    SecurityProtocol,
    TopicSettings,
    kafka_security_problems,
)
from feeder.settings.observability import ObservabilitySettings
from feeder.settings.replicas import ReplicaSettings
from feeder.settings.sweep import StartPosition, SweepSettings

__all__ = [
    "MIN_PSEUDONYM_KEY_CHARS",
    "ApiSettings",
    "CheckpointSettings",
    "DeliverySettings",
    "EnvSettings",
    "EventSettings",
    "FeederSettings",
    "HeartbeatSettings",
    "KafkaSettings",
    "ObservabilitySettings",
    "PartialEnvSettings",
    "ReplicaSettings",
    "SaslMechanism",
    "SecurityProtocol",
    "SettingsGroup",
    "StartPosition",
    "SweepSettings",
    "TopicSettings",
    "kafka_security_problems",
    "load_settings",
]
