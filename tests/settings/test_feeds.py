"""Several feeds in one config (``FEEDER_FEEDS`` / ``[feeds.<name>]``): what each feed gets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from feeder.errors import ConfigError
from feeder.runtime.feeds import feed_settings
from feeder.settings import FeederSettings, load_settings


def test_one_feed_without_feeds() -> None:
    settings = FeederSettings.model_validate({"api": {"token": "t"}})
    assert feed_settings(settings) == [settings]


def test_each_feed_gets_its_differences_and_its_own_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "feeder.toml"
    config.write_text(
        """
[api]
token = "shared-token"
[checkpoint]
backend = "kafka"
path = "/var/lib/feeder/cache.sqlite3"
[replicas]
enabled = true
[feeds.store-9.api]
base_url = "https://oasis-9.example.com"
token = "nine"
[feeds.store-7.api]
base_url = "https://oasis-7.example.com"
[feeds.store-7.kafka.topics]
events = "store-7.events"
[feeds.store-7.sweep]
poll_interval_s = 2
"""
    )
    for name in [n for n in os.environ if n.startswith("FEEDER_")]:
        monkeypatch.delenv(name)
    seven, nine = feed_settings(load_settings(config))  # in name order
    assert (seven.feed_name, nine.feed_name) == ("store-7", "store-9")
    assert str(seven.api.base_url) == "https://oasis-7.example.com/"
    tokens = [feed.api.token.get_secret_value() for feed in (seven, nine) if feed.api.token]
    assert tokens == ["shared-token", "nine"]
    assert seven.kafka.topics.events == "store-7.events"
    assert nine.kafka.topics.events == "oasis.sessions.events"  # shared unless given
    assert (seven.sweep.poll_interval_s, nine.sweep.poll_interval_s) == (2.0, 1.0)
    assert seven.kafka.topics.checkpoint == "oasis.sessions.checkpoint.store-7"
    assert nine.checkpoint.path == Path("/var/lib/feeder/cache.store-9.sqlite3")
    assert seven.observability.port == 0  # the replica serves the metrics
    assert seven.transactional_id == "feeder-store-7"


def test_a_bad_feed_is_named_with_the_setting() -> None:
    settings = FeederSettings.model_validate(
        {
            "api": {"token": "t"},
            "checkpoint": {"backend": "kafka"},
            "replicas": {"enabled": True},
            "feeds": {"store-7": {"sweep": {"poll_interval_s": -1}}},
        }
    )
    with pytest.raises(
        ConfigError, match=r"feed 'store-7' \(FEEDER_FEEDS\): sweep.poll_interval_s"
    ):
        feed_settings(settings)


def test_two_feeds_may_not_share_a_checkpoint_topic() -> None:
    same = {"kafka": {"topics": {"checkpoint": "one.checkpoint"}}}
    settings = FeederSettings.model_validate(
        {
            "api": {"token": "t"},
            "checkpoint": {"backend": "kafka"},
            "replicas": {"enabled": True},
            "feeds": {"a": same, "b": same},
        }
    )
    with pytest.raises(ConfigError, match="share a checkpoint topic"):
        feed_settings(settings)


def test_replicas_need_the_kafka_checkpoint_and_exactly_once_too() -> None:
    with pytest.raises(ValueError, match="FEEDER_REPLICAS__ENABLED needs"):
        FeederSettings.model_validate({"api": {"token": "t"}, "replicas": {"enabled": True}})
    with pytest.raises(ValueError, match="exactly-once needs FEEDER_CHECKPOINT__BACKEND=kafka"):
        FeederSettings.model_validate({"api": {"token": "t"}, "delivery": {"mode": "exactly-once"}})
    with pytest.raises(ValueError, match="FEEDER_HEARTBEAT__FEED_NAME moved to FEEDER_FEED_NAME"):
        FeederSettings.model_validate({"api": {"token": "t"}, "heartbeat": {"feed_name": "x"}})
