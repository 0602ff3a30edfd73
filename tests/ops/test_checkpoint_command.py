"""`feeder checkpoint show | rewind | reset` on real SQLite checkpoint files.

That rewind and reset refuse while a real feeder runs (and show works then) is tested end to end
in tests/e2e/test_verify_and_rewind.py; here the lock is held the way a feeder holds it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feeder.checkpoint import SqliteCheckpointStore
from feeder.checkpoint.exclusive import exclusive_checkpoint
from feeder.cli import build_parser
from feeder.commands import checkpoint
from feeder.commands.backfill import default_state_path
from feeder.core.state import FeedPosition, SessionState
from tests.core.sessions import tracked_state

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
NOW = T0 + timedelta(minutes=10)
POSITION = FeedPosition(
    T0,
    live=T0 + timedelta(seconds=590),
    rereads=((4.0, T0 + timedelta(seconds=586)), (300.0, T0 + timedelta(seconds=290))),
)


def state(session_id: str, updated_s: float, *, fraud: bool = False) -> SessionState:
    return tracked_state(session_id, T0 + timedelta(seconds=updated_s), fraud=fraud)


def write_store(path: Path, states: list[SessionState], position: FeedPosition) -> None:
    async def write() -> None:
        store = await SqliteCheckpointStore.open(path, clock=lambda: NOW - timedelta(seconds=2))
        try:
            await store.commit(states, position)
        finally:
            await store.aclose()

    asyncio.run(write())


def read_store(path: Path) -> tuple[FeedPosition | None, set[str]]:
    async def read() -> tuple[FeedPosition | None, set[str]]:
        store = await SqliteCheckpointStore.open_read_only(path)
        try:
            known = await store.load_states([str(i) for i in range(10)])
            return await store.load_position(), set(known)
        finally:
            await store.aclose()

    return asyncio.run(read())


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    """The command configures logging process-wide, as a command should; undo it afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    chatty = {name: logging.getLogger(name).level for name in ("aiokafka", "httpx", "httpcore")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, chatty_level in chatty.items():
        logging.getLogger(name).setLevel(chatty_level)


@pytest.fixture
def committed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "feeder.sqlite3"
    write_store(path, [state("1", 100), state("2", 300, fraud=True), state("3", 500)], POSITION)
    monkeypatch.setenv("FEEDER_CHECKPOINT__PATH", str(path))
    monkeypatch.delenv("FEEDER_CHECKPOINT__BACKEND", raising=False)
    return path


def feeder_checkpoint(*argv: str, answer: str | None = None) -> int:
    args = build_parser().parse_args(["checkpoint", *argv])
    ask = None if answer is None else (lambda _prompt: answer)
    return checkpoint.run(args, clock=lambda: NOW, ask=ask)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_show_prints_the_position_and_contents_without_writing(
    committed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = digest(committed)
    siblings = sorted(p.name for p in committed.parent.iterdir())
    assert feeder_checkpoint("show") == 0
    table = capsys.readouterr().out
    assert f"checkpoint {committed} (" in table
    assert "    live            2026-11-01T12:09:50.000Z  (10.0 s ago)" in table
    assert "    reread_4s       2026-11-01T12:09:46.000Z  (14.0 s ago)" in table
    assert "    reread_300s     2026-11-01T12:04:50.000Z  (5.2 min ago)" in table
    assert "  tracked sessions  3 (1 flagged as suspected fraud)" in table
    assert "  oldest session    updatedAt 2026-11-01T12:01:40.000Z  (8.3 min ago)" in table
    assert "  newest session    updatedAt 2026-11-01T12:08:20.000Z  (100.0 s ago)" in table
    assert "  last commit       2026-11-01T12:09:58.000Z  (2.0 s ago)" in table
    assert feeder_checkpoint("show", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["checkpoint"] == {
        "path": str(committed),
        "kind": "checkpoint",
        "position": {
            "feed_start": "2026-11-01T12:00:00.000Z",
            "live": "2026-11-01T12:09:50.000Z",
            "reread_4s": "2026-11-01T12:09:46.000Z",
            "reread_300s": "2026-11-01T12:04:50.000Z",
        },
        "tracked_sessions": 3,
        "flagged_sessions": 1,
        "bytes_on_disk": committed.stat().st_size,
        "oldest_session_updated_at": "2026-11-01T12:01:40.000Z",
        "newest_session_updated_at": "2026-11-01T12:08:20.000Z",
        "last_commit_at": "2026-11-01T12:09:58.000Z",
        "last_commit_age_s": 2.0,
    }
    assert document["backfills"] == []
    assert digest(committed) == before
    assert sorted(p.name for p in committed.parent.iterdir()) == siblings


def test_show_includes_the_backfill_state_files_beside_the_checkpoint(
    committed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backfill = default_state_path(committed, T0 - timedelta(days=1), T0)
    write_store(backfill, [state("9", -50)], FeedPosition(T0, T0))
    assert feeder_checkpoint("show", "--json") == 0
    (shown,) = json.loads(capsys.readouterr().out)["backfills"]
    assert shown["path"] == str(backfill)
    assert shown["kind"] == "backfill"
    assert shown["tracked_sessions"] == 1
    assert feeder_checkpoint("show", "--checkpoint", str(backfill)) == 0
    assert capsys.readouterr().out.startswith(f"backfill {backfill} (")


def test_rewind_moves_every_cursor_back_keeps_the_sessions_and_logs_it(
    committed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    to = T0 + timedelta(seconds=200)
    assert feeder_checkpoint("rewind", "--to", to.isoformat()) == 0
    assert read_store(committed) == (
        FeedPosition(T0, to, ((4.0, to), (300.0, to))),
        {"1", "2", "3"},
    )
    out, err = capsys.readouterr()
    assert "live 2026-11-01T12:09:50.000Z -> 2026-11-01T12:03:20.000Z" in out
    assert "versions already seen stay deduplicated" in out
    (logged,) = err.splitlines()
    assert logged.endswith(
        f"WARNING feeder.checkpoint: checkpoint {committed} rewound to 2026-11-01T12:03:20.000Z: "
        "live 2026-11-01T12:09:50.000Z -> 2026-11-01T12:03:20.000Z, "
        "reread_4s 2026-11-01T12:09:46.000Z -> 2026-11-01T12:03:20.000Z, "
        "reread_300s 2026-11-01T12:04:50.000Z -> 2026-11-01T12:03:20.000Z"
    )


def test_rewind_forgetting_sessions_drops_those_updated_since(
    committed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    to = T0 + timedelta(seconds=300)
    assert feeder_checkpoint("rewind", "--to", to.isoformat(), "--forget-sessions") == 0
    # the lookback pass's cursor was already before it
    assert read_store(committed) == (
        FeedPosition(T0, to, ((4.0, to), (300.0, T0 + timedelta(seconds=290)))),
        {"1"},
    )
    out = capsys.readouterr().out
    assert "forgot 2 sessions updated at or after 2026-11-01T12:05:00.000Z" in out
    assert "published again with the same ids" in out


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        (T0 - timedelta(seconds=1), "before the feed start"),
        (POSITION.live + timedelta(seconds=1), "after the live position"),
    ],
)
def test_rewind_outside_the_feed_is_refused_and_changes_nothing(
    committed: Path, capsys: pytest.CaptureFixture[str], to: datetime, reason: str
) -> None:
    before = digest(committed)
    assert feeder_checkpoint("rewind", "--to", to.isoformat(), "--forget-sessions") == 1
    assert reason in capsys.readouterr().err
    assert digest(committed) == before


@pytest.mark.parametrize("action", [["rewind", "--to", T0.isoformat()], ["reset", "--yes"]])
def test_changes_are_refused_while_the_checkpoint_is_held_and_show_still_works(
    committed: Path, capsys: pytest.CaptureFixture[str], action: list[str]
) -> None:
    before = digest(committed)
    with exclusive_checkpoint(committed):
        assert feeder_checkpoint(*action) == 1
        err = capsys.readouterr().err
        assert f"refusing to {action[0]} {committed}: a feeder" in err
        assert f"holds {committed}.lock; stop it first" in err
        assert feeder_checkpoint("show") == 0
        assert "tracked sessions  3" in capsys.readouterr().out
    assert digest(committed) == before


def test_reset_asks_and_does_nothing_unless_confirmed(
    committed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert feeder_checkpoint("reset", answer="no") == 1
    assert read_store(committed) == (POSITION, {"1", "2", "3"})
    assert feeder_checkpoint("reset") == 1  # no terminal to ask in
    assert "pass --yes" in capsys.readouterr().err
    assert feeder_checkpoint("reset", answer="reset") == 0
    assert read_store(committed) == (None, set())
    assert "forgot the position and 3 sessions" in capsys.readouterr().out


def test_reset_with_yes_empties_the_store_and_logs_what_it_forgot(
    committed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert feeder_checkpoint("reset", "--yes") == 0
    assert read_store(committed) == (None, set())
    (logged,) = capsys.readouterr().err.splitlines()
    assert f"WARNING feeder.checkpoint: checkpoint {committed} reset: forgot the position" in logged
    assert '"live": "2026-11-01T12:09:50.000Z"' in logged
    assert logged.endswith("and 3 sessions")


def test_a_missing_checkpoint_is_named_and_never_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "absent.sqlite3"
    monkeypatch.setenv("FEEDER_CHECKPOINT__PATH", str(missing))
    for action in (["show"], ["rewind", "--to", T0.isoformat()], ["reset", "--yes"]):
        assert feeder_checkpoint(*action) == 1
        assert f"no checkpoint file at {missing}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_memory_backend_has_nothing_to_show(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FEEDER_CHECKPOINT__BACKEND", "memory")
    assert feeder_checkpoint("show") == 2
    assert "FEEDER_CHECKPOINT__BACKEND=memory" in capsys.readouterr().err


def test_with_the_kafka_checkpoint_rewind_and_reset_say_what_to_do_instead(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FEEDER_CHECKPOINT__BACKEND", "kafka")
    monkeypatch.setenv("FEEDER_KAFKA__TOPICS__CHECKPOINT", "feed-7.checkpoint")
    for action in (["rewind", "--to", "2026-12-01T00:00:00Z"], ["reset", "--yes"]):
        assert feeder_checkpoint(*action) == 2
        error = capsys.readouterr().err
        assert "feed-7.checkpoint (FEEDER_KAFKA__TOPICS__CHECKPOINT)" in error
        assert "feeder backfill" in error
