"""`feeder` as real processes: subcommands configured like a test's FeedApp, and `feeder run`
started, scraped and stopped like an operator would."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from feeder.commands.status_sources import read_checkpoint
from feeder.settings import FeederSettings
from tests.e2e.harness import LOOKBACK_S, REREAD_DELAYS_S
from tests.feeder_command import feeder, without_feeder_settings


def feeder_env(settings: FeederSettings) -> dict[str, str]:
    """The environment that gives a `feeder` process the same API, Kafka, topics and
    checkpoint as ``settings`` (nothing inherited from the test run's FEEDER_ variables)."""
    topics = settings.kafka.topics
    token = settings.api.token
    assert token is not None
    return {
        **without_feeder_settings(),
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
    return await asyncio.to_thread(feeder, *args, env=feeder_env(settings), timeout_s=150)


KILLED_PAGE_S = 2.0
"""A page the killed process fetched this long before the kill may not have been committed."""


def run_env(
    base_url: str, token: str, bootstrap: str, checkpoint: Path, port: int
) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        **without_feeder_settings(),
        "FEEDER_API__BASE_URL": base_url,
        "FEEDER_API__TOKEN": token,
        "FEEDER_API__REQUESTS_PER_S": "50",
        "FEEDER_SWEEP__START_POSITION": "earliest",
        "FEEDER_SWEEP__POLL_INTERVAL_S": "0.2",
        "FEEDER_SWEEP__REREAD_DELAYS_S": orjson.dumps(REREAD_DELAYS_S).decode(),
        "FEEDER_SWEEP__LOOKBACK_S": str(LOOKBACK_S),
        "FEEDER_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "FEEDER_KAFKA__TOPICS__EVENTS": f"events-{suffix}",
        "FEEDER_KAFKA__TOPICS__FRAUD": f"fraud-{suffix}",
        "FEEDER_KAFKA__TOPICS__STATE": f"state-{suffix}",
        "FEEDER_KAFKA__TOPICS__DEAD_LETTER": f"dlq-{suffix}",
        "FEEDER_KAFKA__TOPICS__HEARTBEAT": f"heartbeat-{suffix}",
        "FEEDER_CHECKPOINT__PATH": str(checkpoint),
        "FEEDER_OBSERVABILITY__PORT": str(port),
    }


def start_feeder(
    env: dict[str, str], log: Path, *, file_size_limit_bytes: int | None = None
) -> subprocess.Popen[bytes]:
    """``feeder run`` with ``env``, its output appended to ``log``; ``file_size_limit_bytes``:
    no file it writes may grow past this (``RLIMIT_FSIZE``: a full disk, as the process sees
    it; Python ignores SIGXFSZ, so the write fails with EFBIG instead)."""

    def limit_file_size() -> None:
        if file_size_limit_bytes is not None:
            # the soft limit only: the test may raise it again (space returns)
            limit = (file_size_limit_bytes, resource.RLIM_INFINITY)
            resource.setrlimit(resource.RLIMIT_FSIZE, limit)

    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "feeder", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_file_size,  # noqa: PLW1509 - only calls setrlimit before exec
        )


def samples(port: int) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a live /metrics, or [] while it is not up."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return []
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def scrape(port: int) -> dict[str, float]:
    """Sum of each metric's samples from a live /metrics, or {} while it is not up."""
    totals: Counter[str] = Counter()
    for name, labels, value in samples(port):
        totals[name + str(sorted(labels.items()))] += value
        totals[name] += value
    return dict(totals)


def process_caught_up(checkpoint: Path, port: int, moment: datetime) -> bool:
    """The running feeder read everything visible at ``moment`` and re-read all it read."""
    live_read = scrape(port).get("feeder_watermark_timestamp_seconds[('sweep', 'live')]", 0)
    if live_read < moment.timestamp():
        return False
    status = read_checkpoint(checkpoint)
    return status.live is not None and all(c >= status.live for c in status.rereads.values())


def load_settings_from(env: dict[str, str]) -> FeederSettings:
    """The settings the feeder processes read from ``env``."""
    feeder_vars = {key: value for key, value in env.items() if key.startswith("FEEDER_")}
    saved = {key: os.environ.get(key) for key in feeder_vars}
    os.environ.update(feeder_vars)
    try:
        return FeederSettings()
    finally:
        for key, value in saved.items():
            if value is None:
                del os.environ[key]
            else:
                os.environ[key] = value
