"""The feeds of one config: ``feeds`` in the settings, each the shared settings with its own
differences, or (no ``feeds``) the one feed the settings describe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from feeder.errors import ConfigError
from feeder.settings import FeederSettings

_PER_REPLICA = ("feeds", "replicas")  # settings of the replica, not of a feed


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _own_cache_path(path: Path, feed: str) -> Path:
    return path.with_name(f"{path.stem}.{feed}{path.suffix}")


def feed_settings(settings: FeederSettings) -> list[FeederSettings]:
    """Every feed's settings, in name order (the order of the control topic's partitions).

    A feed's own checkpoint topic and local checkpoint file default to the shared ones with
    ``.<feed name>`` added, so two feeds never share a checkpoint; its metrics server takes a
    free port (the replica serves every feed's metrics on ``observability.port``). Raises
    ``ConfigError`` naming the feed and the setting at fault.
    """
    if not settings.feeds:
        return [settings]
    shared = settings.model_dump(exclude=set(_PER_REPLICA))
    resolved = []
    for name in sorted(settings.feeds):
        override = settings.feeds[name]
        kafka_topics = override.get("kafka", {}).get("topics", {})
        checkpoint = override.get("checkpoint", {})
        defaults = {
            "feed_name": name,
            "kafka": {
                "topics": {
                    "checkpoint": kafka_topics.get(
                        "checkpoint", f"{settings.kafka.topics.checkpoint}.{name}"
                    )
                }
            },
            "checkpoint": {
                "path": checkpoint.get("path", _own_cache_path(settings.checkpoint.path, name))
            },
            "observability": {"port": 0},
        }
        try:
            resolved.append(
                FeederSettings.model_validate(_merged(_merged(shared, override), defaults))
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                for error in exc.errors()
            )
            raise ConfigError(f"feed {name!r} (FEEDER_FEEDS): {problems}") from exc
    topics = [feed.kafka.topics.checkpoint for feed in resolved]
    if len(set(topics)) != len(topics):
        raise ConfigError("two feeds share a checkpoint topic; give each its own (FEEDER_FEEDS)")
    return resolved
