"""``feeder simulate``: serve the simulated Oasis sessions API until Ctrl-C.

Every setting of :class:`~feeder_devkit.simulator.settings.SimulatorSettings` is a flag (server and
traffic fields by name, fault fields as ``--fault-...``, ground-truth fields as
``--ground-truth-...``) and an environment variable (``FEEDER_SIM_<GROUP>__<FIELD>``). Flags win.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from feeder_devkit.simulator.server import run_simulator
from feeder_devkit.simulator.settings import SimulatorSettings

# group name -> flag prefix
GROUP_FLAGS = {"server": "", "traffic": "", "faults": "fault-", "ground_truth": "ground-truth-"}


def _flag(group: str, field: str) -> str:
    return f"--{GROUP_FLAGS[group]}{field.replace('_', '-')}"


def _dest(group: str, field: str) -> str:
    return f"sim__{group}__{field}"


def _plain(annotation: Any) -> Any:
    """``int | None`` -> ``int``; other annotations unchanged."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return options[0] if len(options) == 1 else annotation
    return annotation


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text}") from exc


def _default_text(info: FieldInfo) -> str:
    default = info.default
    if isinstance(default, SecretStr):
        default = default.get_secret_value()
    if isinstance(default, tuple):
        return ",".join(str(v) for v in default)
    return "unset" if default is None else str(default)


def _add_field(parser: argparse._ArgumentGroup, group: str, name: str, info: FieldInfo) -> None:
    annotation = _plain(info.annotation)
    env = f"FEEDER_SIM_{group.upper()}__{name.upper()}"
    help_text = f"{info.description} (default: {_default_text(info)}; env {env})"
    common: dict[str, Any] = {"dest": _dest(group, name), "default": argparse.SUPPRESS}
    metavar = name.rsplit("_", maxsplit=1)[-1].upper()
    flag = _flag(group, name)
    if annotation is bool:
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text, **common)
    elif typing.get_origin(annotation) is Literal:
        choices = [str(c) for c in typing.get_args(annotation)]
        parser.add_argument(flag, choices=choices, help=help_text, **common)
    elif typing.get_origin(annotation) is tuple:
        parser.add_argument(flag, type=_int_list, metavar="N,N,...", help=help_text, **common)
    elif annotation in (int, float):
        parser.add_argument(flag, type=annotation, metavar=metavar, help=help_text, **common)
    elif annotation in (str, SecretStr, Path):
        parser.add_argument(flag, type=str, metavar=metavar, help=help_text, **common)
    else:  # pragma: no cover - a new field type needs a line above
        raise TypeError(f"no command-line form for {group}.{name}: {annotation!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting, grouped as the settings are."""
    for group, info in SimulatorSettings.model_fields.items():
        model = info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"settings field {group} must be a group model")
        section = parser.add_argument_group(f"{group} settings", model.__doc__)
        for name, field_info in model.model_fields.items():
            _add_field(section, group, name, field_info)
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="logging level (default: %(default)s)",
    )


def settings_from_args(args: argparse.Namespace) -> SimulatorSettings:
    """Settings from the flags that were given, the environment filling in the rest."""
    overrides: dict[str, dict[str, object]] = {}
    for dest, value in vars(args).items():
        if dest.startswith("sim__"):
            group, name = dest.removeprefix("sim__").split("__", 1)
            overrides.setdefault(group, {})[name] = value
    return SimulatorSettings(**overrides)  # type: ignore[arg-type]


async def _serve(settings: SimulatorSettings, log_level: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with run_simulator(settings, log_level=log_level) as sim:
            print(f"feeder simulate: serving {sim.sessions_url}", flush=True)
            print(f"  bearer token : {sim.token}", flush=True)
            print(
                f"  OAuth2       : POST {sim.oauth_token_url} "
                f"(client id {settings.server.oauth_client_id})",
                flush=True,
            )
            print(f"  admin        : {sim.base_url}/_simulator/status", flush=True)
            print(f"  seed         : {sim.seed}  (Ctrl-C stops)", flush=True)
            await stop.wait()
            print("feeder simulate: stopping", flush=True)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        print(f"feeder simulate: invalid settings\n{exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(settings, args.log_level))
    except OSError as exc:
        print(f"feeder simulate: cannot serve: {exc} (change --host/--port)", file=sys.stderr)
        return 1
    return 0
