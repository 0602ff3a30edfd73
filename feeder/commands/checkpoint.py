"""``feeder checkpoint show | rewind --to T | reset``: look at a feed's checkpoint, move it back,
or empty it.

``show`` only reads (through a read-only connection), so it works while a feeder runs; it also
shows the backfill state files kept beside the checkpoint. ``rewind`` and ``reset`` take the
checkpoint's lock, as a feeder does, so they refuse while a feeder (or a backfill on that state
file) holds it: its next commit would undo the change. Every change is logged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fnmatch
import json
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field, ValidationError

from feeder.checkpoint import SqliteCheckpointStore
from feeder.checkpoint.exclusive import exclusive_checkpoint, lock_path_of
from feeder.commands.arguments import timestamp
from feeder.commands.backfill import STATE_FILES
from feeder.commands.checkpoint_view import (
    StoreView,
    plain,
    position_fields,
    render_table,
    store_document,
    view_of,
)
from feeder.core.rewind import rewound_position
from feeder.core.state import FeedPosition
from feeder.core.timestamps import format_timestamp
from feeder.errors import ConfigError, FencedError
from feeder.observability.logs import configure_logging
from feeder.settings import (
    CheckpointSettings,
    KafkaSettings,
    ObservabilitySettings,
    PartialEnvSettings,
)
from feeder.typing import Clock

logger = logging.getLogger("feeder.checkpoint")
Ask = Callable[[str], str]

REWIND_HELP = """\
Move the checkpoint's position back to T, so that the next `feeder run` sweeps again from T.
Sessions the checkpoint remembers stay deduplicated: a version already seen publishes nothing,
so only transitions that never reached Kafka are published. With --forget-sessions the state of
every session updated at or after T is dropped as well, so the next run sees those sessions for
the first time and publishes their events again, with the same event ids (consumers deduplicate
on id): use it when events were lost after Kafka acknowledged them (a topic recreated, a feed
pointed at the wrong topic). T must lie between the feed start and the live position. Refused
while a feeder runs on the checkpoint."""

RESET_HELP = """\
Empty the checkpoint: the position, every tracked session and the last commit time. The next
`feeder run` starts at FEEDER_SWEEP__START_POSITION as a new feed. Asks for confirmation
(--yes for scripts). Refused while a feeder runs on the checkpoint."""


class _CheckpointCommandSettings(PartialEnvSettings):
    """The groups the checkpoint commands need, without requiring API credentials."""

    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)


def _backend_refusal(action: str, settings: _CheckpointCommandSettings) -> str | None:
    """Why ``action`` cannot be done on the configured backend (``error: …``), or ``None``;
    on a Kafka checkpoint ``show`` reads the local cache, with a note saying so."""
    backend = settings.checkpoint.backend
    if backend == "memory":
        return (
            "error: FEEDER_CHECKPOINT__BACKEND=memory keeps the checkpoint inside the running "
            "process: there is no file to show or change"
        )
    if backend == "sqlite":
        return None
    if action == "show":
        print(
            f"note: {settings.checkpoint.path} is the local cache of the Kafka checkpoint, "
            "as this host's feeder last saw it",
            file=sys.stderr,
        )
        return None
    return (
        "error: FEEDER_CHECKPOINT__BACKEND=kafka keeps the checkpoint in the topic "
        f"{settings.kafka.topics.checkpoint} (FEEDER_KAFKA__TOPICS__CHECKPOINT); `feeder "
        f"checkpoint {action}` changes SQLite checkpoints only so far. To sweep a window "
        "again, run `feeder backfill`; to start over, stop every instance and delete the topic"
    )


class _RefusedError(Exception):
    """The command will not do what was asked; the message says why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(
            name,
            help=help_text,
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument(
            "--checkpoint",
            type=Path,
            help="the SQLite checkpoint (or backfill state) file "
            "(default: FEEDER_CHECKPOINT__PATH)",
        )
        return sub

    show = action(
        "show",
        "position, tracked sessions, size, oldest/newest session, last commit",
        "Show the checkpoint and the backfill state files beside it: the position, tracked "
        "sessions, size on disk, oldest and newest session (by updatedAt) and the last commit. "
        "Read-only: safe while a feeder runs.",
    )
    show.add_argument("--json", action="store_true", help="print one JSON document")
    rewind = action("rewind", "move the position back so the next run re-sweeps", REWIND_HELP)
    rewind.add_argument(
        "--to", dest="to", type=timestamp, required=True, help="ISO-8601 time to sweep again from"
    )
    rewind.add_argument(
        "--forget-sessions",
        action="store_true",
        help="also drop the state of sessions updated at or after --to, so their events are "
        "published again (with the same ids)",
    )
    reset = action("reset", "empty the checkpoint (asks first)", RESET_HELP)
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _kind(path: Path) -> str:
    return "backfill" if fnmatch.fnmatch(path.name, STATE_FILES) else "checkpoint"


async def _read(path: Path) -> StoreView:
    store = await SqliteCheckpointStore.open_read_only(path)
    try:
        return await view_of(store, path, _kind(path))
    except sqlite3.Error as exc:  # a file that is not a checkpoint: the first query says so
        raise ConfigError(f"cannot read the checkpoint at {path}: {exc}") from exc
    finally:
        await store.aclose()


async def _read_all(path: Path) -> tuple[StoreView, list[StoreView]]:
    main = await _read(path)
    others = sorted(candidate for candidate in path.parent.glob(STATE_FILES) if candidate != path)
    return main, [await _read(other) for other in others]


def _show(args: argparse.Namespace, path: Path, now: datetime) -> int:
    main, backfills = asyncio.run(_read_all(path))
    if args.json:
        document = {
            "now": format_timestamp(now),
            "checkpoint": store_document(main, now),
            "backfills": [store_document(view, now) for view in backfills],
        }
        print(json.dumps(document, indent=2))
    else:
        print("\n".join(render_table(view, now) for view in (main, *backfills)))
    return 0


@contextlib.asynccontextmanager
async def _held(path: Path, action: str) -> AsyncIterator[SqliteCheckpointStore]:
    """The store at ``path`` (which exists), holding its lock as a feeder would."""
    try:
        with exclusive_checkpoint(path):
            store = await SqliteCheckpointStore.open(path)
            try:
                yield store
            finally:
                await store.aclose()
    except FencedError:
        raise _RefusedError(
            f"refusing to {action} {path}: a feeder (or a backfill) is running on it and holds "
            f"{lock_path_of(path)}; stop it first, or its next commit would undo the {action}"
        ) from None


def _changes(before: FeedPosition, after: FeedPosition) -> str:
    was, now = before.cursors(), after.cursors()
    moved = [
        f"{name} {plain(was.get(name))} -> {plain(cursor)}"
        for name, cursor in now.items()
        if was.get(name) != cursor
    ]
    return ", ".join(moved) or "nothing moved"


async def _rewind_store(path: Path, to: datetime, forget: bool) -> tuple[str, int]:
    async with _held(path, "rewind") as store:
        before = await store.load_position()
        if before is None:
            raise _RefusedError(f"nothing to rewind: {path} has no position (no page committed)")
        try:
            after = rewound_position(before, to)
        except ValueError as exc:
            raise _RefusedError(f"cannot rewind {path}: {exc}") from None
        forgotten = await store.rewind(after, forget_since=to if forget else None)
    return _changes(before, after), forgotten


def _require_file(path: Path) -> None:
    """Refuse a missing checkpoint rather than let opening it create an empty one."""
    if not path.is_file():
        raise ConfigError(f"no checkpoint file at {path}; check FEEDER_CHECKPOINT__PATH")


def _rewind(args: argparse.Namespace, path: Path) -> int:
    _require_file(path)
    moved, forgotten = asyncio.run(_rewind_store(path, args.to, args.forget_sessions))
    since = format_timestamp(args.to)
    forgot = (
        f"; forgot {forgotten} sessions updated at or after {since}" if args.forget_sessions else ""
    )
    logger.warning("checkpoint %s rewound to %s: %s%s", path, since, moved, forgot)
    print(f"rewound {path}: {moved}{forgot}")
    republished = (
        "events of the forgotten sessions are published again with the same ids"
        if args.forget_sessions
        else "versions already seen stay deduplicated"
    )
    print(f"the next `feeder run` sweeps again from {since}; {republished}")
    return 0


async def _reset_store(path: Path, confirm: Callable[[StoreView], bool]) -> StoreView | None:
    async with _held(path, "reset") as store:
        view = await view_of(store, path, _kind(path))
        if not confirm(view):
            return None
        await store.reset()
    return view


def _reset(args: argparse.Namespace, path: Path, now: datetime, ask: Ask | None) -> int:
    def confirm(view: StoreView) -> bool:
        if args.yes:
            return True
        if ask is None:
            raise _RefusedError("reset asks for confirmation: run it in a terminal, or pass --yes")
        print(render_table(view, now))
        answer = ask(
            f"Forget the position and all {view.description.tracked_sessions:,} sessions? The "
            "next run starts at FEEDER_SWEEP__START_POSITION. Type 'reset' to confirm: "
        )
        return answer.strip() == "reset"

    _require_file(path)
    view = asyncio.run(_reset_store(path, confirm))
    if view is None:
        print("not reset")
        return 1
    position = "none" if view.position is None else json.dumps(position_fields(view.position))
    logger.warning(
        "checkpoint %s reset: forgot the position %s and %d sessions",
        path,
        position,
        view.description.tracked_sessions,
    )
    print(
        f"reset {path}: forgot the position and {view.description.tracked_sessions:,} sessions; "
        "the next `feeder run` starts at FEEDER_SWEEP__START_POSITION"
    )
    return 0


def run(args: argparse.Namespace, *, clock: Clock | None = None, ask: Ask | None = None) -> int:
    """``ask`` prompts for the reset confirmation (default: ``input`` when stdin is a TTY)."""
    try:
        settings = _CheckpointCommandSettings()
    except ValidationError as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.observability.log_format, settings.observability.log_level)
    refused = None if args.checkpoint is not None else _backend_refusal(args.action, settings)
    if refused is not None:
        print(refused, file=sys.stderr)
        return 2
    path = args.checkpoint or settings.checkpoint.path
    now = (clock or (lambda: datetime.now(UTC)))()
    if ask is None and sys.stdin.isatty():
        ask = input
    try:
        if args.action == "show":
            return _show(args, path, now)
        if args.action == "rewind":
            return _rewind(args, path)
        return _reset(args, path, now, ask)
    except (ConfigError, _RefusedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
