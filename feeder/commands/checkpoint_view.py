"""What ``feeder checkpoint show`` prints: one store's position and contents, as JSON or a table.

The position is printed field by field from its dataclass, so a cursor added to
``FeedPosition`` shows up without a change here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from feeder.checkpoint import SqliteCheckpointStore, StoreDescription
from feeder.commands.formatting import format_bytes, format_duration
from feeder.core.state import FeedPosition
from feeder.core.timestamps import format_timestamp


@dataclass(frozen=True, slots=True)
class StoreView:
    """One store as ``show`` found it; ``kind`` is ``checkpoint`` or ``backfill``."""

    path: Path
    kind: str
    position: FeedPosition | None
    description: StoreDescription


async def view_of(store: SqliteCheckpointStore, path: Path, kind: str) -> StoreView:
    """Read ``store`` (nothing is written)."""
    return StoreView(path, kind, await store.load_position(), await store.describe())


def plain(value: object) -> object:
    """``value`` as JSON: datetimes as API timestamps, mappings and sequences element-wise."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(item) for item in value]
    return value


def position_fields(position: FeedPosition) -> dict[str, object]:
    """The feed start and every cursor, by name, as JSON values."""
    return {"feed_start": plain(position.feed_start), **plain(position.cursors())}  # type: ignore[dict-item]


def _age_s(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else round((now - moment).total_seconds(), 3)


def store_document(view: StoreView, now: datetime) -> dict[str, Any]:
    description = view.description
    return {
        "path": str(view.path),
        "kind": view.kind,
        "position": None if view.position is None else position_fields(view.position),
        "tracked_sessions": description.tracked_sessions,
        "flagged_sessions": description.flagged_sessions,
        "bytes_on_disk": description.bytes_on_disk,
        "oldest_session_updated_at": plain(description.oldest_updated_at),
        "newest_session_updated_at": plain(description.newest_updated_at),
        "last_commit_at": plain(description.last_commit_at),
        "last_commit_age_s": _age_s(description.last_commit_at, now),
    }


def _with_age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    return f"{format_timestamp(moment)}  ({format_duration(_age_s(moment, now))} ago)"


def _position_lines(position: FeedPosition, now: datetime) -> list[str]:
    moments = {"feed_start": position.feed_start, **position.cursors()}
    return [f"    {name:<16}{_with_age(moment, now)}" for name, moment in moments.items()]


def render_table(view: StoreView, now: datetime) -> str:
    description = view.description
    lines = [f"{view.kind} {view.path} ({format_bytes(description.bytes_on_disk)})"]
    if view.position is None:
        lines.append("  position          none: no page committed yet")
    else:
        lines += ["  position", *_position_lines(view.position, now)]
    lines += [
        f"  tracked sessions  {description.tracked_sessions:,} "
        f"({description.flagged_sessions:,} flagged as suspected fraud)",
        f"  oldest session    updatedAt {_with_age(description.oldest_updated_at, now)}",
        f"  newest session    updatedAt {_with_age(description.newest_updated_at, now)}",
        f"  last commit       {_with_age(description.last_commit_at, now)}",
    ]
    return "\n".join(lines)
