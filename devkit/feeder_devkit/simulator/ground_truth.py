"""The ground truth: every transition the simulator made, in the order it became visible.

Each :class:`Transition` says which session changed, how (``kind``, lined up with the feeder's
event types), the change's own timestamp, the old and new value, the ``updatedAt`` the change
carries, and when it became visible through the API (``visible_at``; later than ``updated_at``
only for late-visible commits). A transition is *superseded* when a later one of the same kind
hits the same session; a poller that did not look in between sees only the later state.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Literal, cast, get_args

import orjson

from feeder_devkit.simulator.clock import format_ms, from_ms, parse_timestamp

TransitionKind = Literal[
    "created", "entered", "exited", "code_scanned", "suspected_fraud_changed", "status_changed"
]
TRANSITION_KINDS: tuple[TransitionKind, ...] = get_args(TransitionKind)
EVENT_TYPE_OF_KIND = {kind: f"session.{kind}" for kind in TRANSITION_KINDS}
"""The feeder's CloudEvents ``type`` that reports each kind of transition."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of one session, as it really happened."""

    seq: int
    session_id: str
    kind: TransitionKind
    at_ms: int
    old: object
    new: object
    updated_at_ms: int
    visible_at_ms: int
    version: int = 0  # the session's version the change made (0: unknown, an older log)

    @property
    def at(self) -> datetime:
        """The change's own timestamp (e.g. the new ``customerLastEnteredAt``)."""
        return from_ms(self.at_ms)

    @property
    def updated_at(self) -> datetime:
        """The ``updatedAt`` the session carried after this change."""
        return from_ms(self.updated_at_ms)

    @property
    def visible_at(self) -> datetime:
        """When the API started serving this change."""
        return from_ms(self.visible_at_ms)

    def to_json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "session_id": self.session_id,
            "kind": self.kind,
            "at": format_ms(self.at_ms),
            "old": self.old,
            "new": self.new,
            "updated_at": format_ms(self.updated_at_ms),
            "visible_at": format_ms(self.visible_at_ms),
            "version": self.version,
        }

    @classmethod
    def from_json(cls, document: dict[str, object]) -> Transition:
        kind = document["kind"]
        if kind not in TRANSITION_KINDS:
            raise ValueError(f"unknown transition kind {kind!r}")
        return cls(
            seq=int(cast(int, document["seq"])),
            session_id=str(document["session_id"]),
            kind=kind,
            at_ms=parse_timestamp(str(document["at"])),
            old=document["old"],
            new=document["new"],
            updated_at_ms=parse_timestamp(str(document["updated_at"])),
            visible_at_ms=parse_timestamp(str(document["visible_at"])),
            version=int(cast(int, document.get("version", 0))),
        )


class GroundTruthLog:
    """Transitions in memory (the newest ``memory_max``) and, if a path is set, in a JSONL file."""

    def __init__(self, path: Path | None, memory_max: int) -> None:
        self._recent: deque[Transition] = deque(maxlen=memory_max)
        self._last_seq = 0
        self._path = path
        self._file: IO[bytes] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("ab")

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def path(self) -> Path | None:
        return self._path

    def append(
        self,
        *,
        session_id: int,
        kind: TransitionKind,
        at_ms: int,
        old: object,
        new: object,
        updated_at_ms: int,
        visible_at_ms: int,
        version: int,
    ) -> Transition:
        self._last_seq += 1
        record = Transition(
            self._last_seq,
            str(session_id),
            kind,
            at_ms,
            old,
            new,
            updated_at_ms,
            visible_at_ms,
            version,
        )
        self._recent.append(record)
        if self._file is not None:
            self._file.write(orjson.dumps(record.to_json(), option=orjson.OPT_APPEND_NEWLINE))
        return record

    def read(
        self,
        after_seq: int = 0,
        limit: int | None = None,
        session_id: str | None = None,
        kinds: Iterable[str] | None = None,
    ) -> list[Transition]:
        """Transitions with ``seq > after_seq`` still in memory, oldest first, filtered."""
        if not self._recent:
            return []
        skip = max(0, after_seq - self._recent[0].seq + 1)
        wanted_kinds = None if kinds is None else frozenset(kinds)
        selected = (
            record
            for record in itertools.islice(self._recent, skip, None)
            if (session_id is None or record.session_id == session_id)
            and (wanted_kinds is None or record.kind in wanted_kinds)
        )
        return list(itertools.islice(selected, limit))

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Flush and close the file; idempotent."""
        if self._file is not None:
            self._file.close()
            self._file = None


def read_jsonl(path: Path) -> list[Transition]:
    """Every transition in a ground-truth JSONL file."""
    with path.open("rb") as handle:
        return [Transition.from_json(orjson.loads(line)) for line in handle if line.strip()]


@dataclass(frozen=True, slots=True)
class Version:
    """One version of one session: its stamp, when it became visible, when it was first served.

    ``first_served_at_ms`` and ``last_served_at_ms`` count serves by the live store only;
    ``replayed`` says whether the lagging replica served it after it had been replaced.
    """

    updated_at_ms: int
    visible_at_ms: int
    first_served_at_ms: int | None = None
    last_served_at_ms: int | None = None
    replayed: bool = False


class VersionLog:
    """Every version of every session and its first serve, when tracking is on (else empty).

    With the ground truth it tells exactly which transitions a poller could have seen: one that
    held only in versions never served was invisible to it, and how long each of those versions
    stayed visible bounds how long a poller may have missed it.
    """

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._versions: dict[tuple[str, int], Version] = {}

    @property
    def enabled(self) -> bool:
        return self._enabled

    def appeared(self, session_id: int, version: int, updated_at_ms: int, now_ms: int) -> None:
        if self._enabled:
            self._versions[(str(session_id), version)] = Version(updated_at_ms, now_ms)

    def served(self, session_id: int, version: int, now_ms: int, from_replica: bool) -> None:
        key = (str(session_id), version)
        known = self._versions.get(key)
        if known is None:  # a preloaded session, made before tracking could see it
            return
        if from_replica:
            if not known.replayed:
                self._versions[key] = replace(known, replayed=True)
        else:
            first = known.first_served_at_ms
            self._versions[key] = replace(
                known,
                first_served_at_ms=now_ms if first is None else first,
                last_served_at_ms=now_ms,
            )

    def snapshot(self) -> dict[tuple[str, int], Version]:
        return dict(self._versions)
