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
    "demo": ("feeder_devkit.demo", "run it all locally: Kafka, the API simulator, the feed"),
    "simulate": (
        "feeder_devkit.simulator.cli",
        "serve a simulated Oasis sessions API (tests, demos)",
    ),
    "schemas": ("feeder.commands.schemas", "write (or --check) the JSON Schemas and AsyncAPI file"),
    "tail": ("feeder.commands.tail", "follow the topics and print events (filter by type, store)"),
    "status": ("feeder.commands.status", "watermarks, lag and tracked sessions of a feed"),
    "checkpoint": ("feeder.commands.checkpoint", "show, rewind or reset a feed's checkpoint"),
    "verify": ("feeder.commands.verify", "audit a window: every fact the API shows has its event"),
}


DEVKIT = "feeder_devkit"
DEVKIT_MISSING_STATUS = 2
"""Exit status of a dev kit subcommand (``demo``, ``simulate``) where the dev kit is missing."""


class _DevkitMissing:
    """Stands in for a dev kit subcommand where the dev kit is not installed: takes any
    arguments, and says in one line how to install it."""

    def __init__(self, command: str) -> None:
        self._command = command

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """None: whatever the dev kit's command would take is accepted (see :func:`main`)."""

    def run(self, args: argparse.Namespace) -> int:
        print(
            f"error: feeder {self._command} needs feeder's dev kit (the {DEVKIT} package), which "
            "is not installed: from a checkout of feeder, run `pip install ./devkit` (or ./dev)",
            file=sys.stderr,
        )
        return DEVKIT_MISSING_STATUS


def _load(module_name: str) -> SubcommandModule:
    try:
        return cast(SubcommandModule, importlib.import_module(module_name))
    except ModuleNotFoundError as exc:
        if exc.name != DEVKIT:
            raise
        command = next(name for name, (module, _) in SUBCOMMANDS.items() if module == module_name)
        return _DevkitMissing(command)


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
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    module = _load(args.module_name)
    if unknown and not isinstance(module, _DevkitMissing):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return module.run(args)


if __name__ == "__main__":
    sys.exit(main())
