"""``feeder check``: validate the settings, then reach the API and Kafka once."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from feeder.commands.settings_loading import load_or_explain
from feeder.errors import FeederError
from feeder.kafka.admin import check_kafka
from feeder.settings import FeederSettings
from feeder.source import SessionsApiClient


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML file of settings (env vars override)")


async def _check(settings: FeederSettings) -> list[str]:
    problems: list[str] = []
    # A check should answer within seconds, not ride out an outage like the poller does.
    api = settings.api.model_copy(update={"max_attempts": min(2, settings.api.max_attempts)})
    try:
        async with SessionsApiClient(api) as client:
            await client.check()
        print(f"ok: the sessions API at {settings.api.base_url} accepts our credentials")
    except FeederError as exc:
        problems.append(f"API: {exc}")
    try:
        missing = await check_kafka(settings.kafka)
        print(f"ok: Kafka at {settings.kafka.bootstrap_servers} answers")
        if missing:
            action = "will be created" if settings.kafka.create_topics else "must be created"
            print(f"note: topics {', '.join(missing)} do not exist yet and {action}")
            if not settings.kafka.create_topics:
                problems.append("Kafka: missing topics and FEEDER_KAFKA__CREATE_TOPICS=false")
    except FeederError as exc:
        problems.append(f"Kafka: {exc}")
    return problems


def run(args: argparse.Namespace) -> int:
    settings = load_or_explain(args.config)
    if settings is None:
        return 2
    print("ok: settings are valid")
    problems = asyncio.run(_check(settings))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0
