"""``feeder run``: the long-running poller."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from pathlib import Path

from feeder.app import FeedApp
from feeder.commands.settings_loading import load_or_explain
from feeder.errors import FeederError
from feeder.observability.logs import configure_logging
from feeder.settings_reference import format_settings_reference


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
    # Modules and settings live as long as the process: out of every garbage collection.
    gc.freeze()
    try:
        asyncio.run(FeedApp(settings).run())
    except FeederError as error:  # fatal ones, and what made the start-up fail
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
