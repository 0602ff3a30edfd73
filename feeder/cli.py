"""The ``feeder`` command line: one subcommand per module, imported only when chosen."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Protocol, cast

from feeder import __version__


class SubcommandModule(Protocol):
    """What a module behind a subcommand provides."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


# name -> (module implementing SubcommandModule, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("feeder.commands.run", "run the poller: sweep the sessions API, publish to Kafka"),
    "check": ("feeder.commands.check", "validate the settings and reach the API and Kafka once"),
    "backfill": ("feeder.commands.backfill", "publish the events of a past window"),
    "demo": ("feeder.commands.demo", "run it all locally: Kafka, the API simulator, the feed"),
    "simulate": ("feeder.simulator.cli", "serve a simulated Oasis sessions API (tests, demos)"),
    "schemas": ("feeder.commands.schemas", "write (or --check) the JSON Schemas and AsyncAPI file"),
    "tail": ("feeder.commands.tail", "follow the topics and print events (filter by type, store)"),
    "status": ("feeder.commands.status", "watermarks, lag and tracked sessions of a feed"),
    "checkpoint": ("feeder.commands.checkpoint", "show, rewind or reset a feed's checkpoint"),
    "verify": ("feeder.commands.verify", "audit a window: every fact the API shows has its event"),
}


def _load(module_name: str) -> SubcommandModule:
    return cast(SubcommandModule, importlib.import_module(module_name))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feeder",
        description="Change feed from the AiFi Oasis Admin API sessions list to Kafka.",
    )
    parser.add_argument("--version", action="version", version=f"feeder {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _load(module_name).add_arguments(sub)
        sub.set_defaults(module_name=module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _load(args.module_name).run(args)


if __name__ == "__main__":
    sys.exit(main())
