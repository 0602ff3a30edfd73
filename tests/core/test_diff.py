from __future__ import annotations

from feeder.core.diff import EventType, Verdict, classify, diff_session
from feeder.core.snapshot import parse_session
from feeder.core.state import SessionState
from tests.core.sessions import at, record


def _state(**kwargs: object) -> SessionState:
    return SessionState.of(parse_session(record(**kwargs)))  # type: ignore[arg-type]


def _types(known: SessionState | None, raw: dict[str, object], start: float = 0) -> list[str]:
    return [change.type.value for change in diff_session(known, parse_session(raw), at(start))]


def test_dedupe_by_id_and_updated_at() -> None:
    known = _state(updated=10)
    assert classify(known, parse_session(record(updated=10))) is Verdict.DUPLICATE
    assert classify(known, parse_session(record(updated=9))) is Verdict.STALE
    assert classify(known, parse_session(record(updated=11))) is Verdict.NEW
    assert classify(None, parse_session(record(updated=1))) is Verdict.NEW


def test_a_second_write_in_the_same_millisecond_is_not_a_duplicate() -> None:
    known = _state(updated=10, status="checkout_pending")
    later_commit = parse_session(record(updated=10, status="completed"))
    assert classify(known, later_commit) is Verdict.NEW
    assert _types(known, record(updated=10, status="completed")) == ["session.status_changed"]


def test_entry_exit_and_scan_move_forward() -> None:
    known = _state(updated=10, entered=5)
    raw = record(updated=20, entered=15, exited=18, scanned=12)
    assert _types(known, raw) == ["session.entered", "session.exited", "session.code_scanned"]


def test_a_moment_that_did_not_move_is_no_change() -> None:
    known = _state(updated=10, entered=5)
    assert _types(known, record(updated=20, entered=5)) == []


def test_fraud_flips_in_both_directions_and_status_changes() -> None:
    flagged = _state(updated=10, fraud=True)
    assert _types(flagged, record(updated=20, fraud=False)) == ["session.suspected_fraud_changed"]
    assert _types(_state(updated=10), record(updated=20, fraud=True)) == [
        "session.suspected_fraud_changed"
    ]
    assert _types(_state(updated=10), record(updated=20, status="expired")) == [
        "session.status_changed"
    ]


def test_first_sight_emits_only_transitions_at_or_after_the_feed_start() -> None:
    raw = record(updated=100, created=10, entered=50, exited=90)
    assert _types(None, raw, start=60) == ["session.exited"]
    assert _types(None, raw, start=0) == ["session.created", "session.entered", "session.exited"]


def test_first_seen_fraud_true_always_counts() -> None:
    raw = record(updated=100, created=10, fraud=True)
    changes = diff_session(None, parse_session(raw), at(1000))
    assert [(c.type, c.old, c.new) for c in changes] == [
        (EventType.SUSPECTED_FRAUD_CHANGED, None, True)
    ]


def test_change_time_is_the_api_timestamp() -> None:
    snapshot = parse_session(record(updated=20, entered=15))
    [change] = diff_session(_state(updated=10), snapshot, at(0))
    assert change.time == at(15)


def test_first_sight_of_a_session_that_left_its_initial_status_since_the_start() -> None:
    raw = record(updated=100, created=10, status="completed")
    assert _types(None, raw, start=0) == ["session.created", "session.status_changed"]
    assert _types(None, raw, start=60) == []  # created before the start: history, not replayed
    assert _types(None, record(updated=100, created=10, status="active"), start=0) == [
        "session.created"
    ]
