"""``feeder run``: the long-running poller."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from feeder.commands.settings_loading import load_or_explain
from feeder.core.timestamps import utc_now
from feeder.errors import ConfigError, FeederError, FencedError
from feeder.observability.logs import configure_logging
from feeder.runtime.collection import collecting_on_a_timer
from feeder.runtime.feed import FeedApp
from feeder.runtime.feeds import feed_settings
from feeder.runtime.replicas import Replica
from feeder.settings import FeederSettings
from feeder.settings.reference import format_settings_reference

FENCED_EXIT_STATUS = 3
"""``feeder run``'s exit status when another instance with the same feed name took over."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--config", type=Path, help="TOML file of settings (env vars override)")
    parser.epilog = (
        "settings (environment variables; in a --config TOML file use [group] tables):\n"
        + format_settings_reference()
    )


async def _run(settings: FeederSettings) -> None:
    """One feed, or (``replicas.enabled``) this replica's share of the config's feeds."""
    if settings.replicas.enabled:
        await Replica(settings, feed_settings(settings), clock=utc_now).run()
        return
    if settings.feeds:
        raise ConfigError(
            "FEEDER_FEEDS defines several feeds: run them as replicas "
            "(FEEDER_REPLICAS__ENABLED=true; one replica alone runs them all)"
        )
    await FeedApp(settings).run()


def run(args: argparse.Namespace) -> int:
    settings = load_or_explain(args.config)
    if settings is None:
        return 2
    configure_logging(settings.observability.log_format, settings.observability.log_level)
    try:
        asyncio.run(collecting_on_a_timer(_run(settings)))
    except FencedError as error:  # another instance runs the feed now
        print(f"error: {error}", file=sys.stderr)
        return FENCED_EXIT_STATUS
    except FeederError as error:  # fatal ones, and what made the start-up fail
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
