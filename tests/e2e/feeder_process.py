"""`feeder` subcommands as real processes, configured like a test's FeedApp."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from feeder.settings import FeederSettings


def feeder_env(settings: FeederSettings) -> dict[str, str]:
    """The environment that gives a `feeder` process the same API, Kafka, topics and
    checkpoint as ``settings`` (nothing inherited from the test run's FEEDER_ variables)."""
    topics = settings.kafka.topics
    token = settings.api.token
    assert token is not None
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("FEEDER_")},
        "FEEDER_API__BASE_URL": str(settings.api.base_url),
        "FEEDER_API__TOKEN": token.get_secret_value(),
        "FEEDER_API__REQUESTS_PER_S": str(settings.api.requests_per_s),
        "FEEDER_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "FEEDER_KAFKA__TOPICS__EVENTS": topics.events,
        "FEEDER_KAFKA__TOPICS__FRAUD": topics.fraud,
        "FEEDER_KAFKA__TOPICS__STATE": topics.state,
        "FEEDER_KAFKA__TOPICS__DEAD_LETTER": topics.dead_letter,
        "FEEDER_CHECKPOINT__PATH": str(settings.checkpoint.path),
    }


async def run_feeder(settings: FeederSettings, *args: str) -> subprocess.CompletedProcess[str]:
    """``feeder ARGS`` in a thread, so a FeedApp on the test's event loop keeps running."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "feeder", *args],
        env=feeder_env(settings),
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
