"""``feeder run``: the long-running poller."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from feeder.app import FeedApp
from feeder.commands.settings_loading import load_or_explain
from feeder.errors import FeederError, FencedError
from feeder.observability.logs import configure_logging
from feeder.settings_reference import format_settings_reference

FENCED_EXIT_STATUS = 3
"""``feeder run``'s exit status when another instance with the same feed name took over."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--config", type=Path, help="TOML file of settings (env vars override)")
    parser.epilog = (
        "settings (environment variables; in a --config TOML file use [group] tables):\n"
        + format_settings_reference()
    )


def run(args: argparse.Namespace) -> int:
    settings = load_or_explain(args.config)
    if settings is None:
        return 2
    configure_logging(settings.observability.log_format, settings.observability.log_level)
    try:
        asyncio.run(FeedApp(settings).run())
    except FencedError as error:  # another instance runs the feed now
        print(f"error: {error}", file=sys.stderr)
        return FENCED_EXIT_STATUS
    except FeederError as error:  # fatal ones, and what made the start-up fail
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
