"""The diff rules (DESIGN §3): versions by content, moments merged by maximum, toggles numbered."""

from __future__ import annotations

from feeder.core.diff import EventType, Verdict, classify
from feeder.core.snapshot import parse_session
from feeder.core.state import SessionState, fingerprint
from tests.core.sessions import apply, at, first_state, record


def _types(known: SessionState | None, raw: dict[str, object], start: float = 0) -> list[str]:
    changes, _ = apply(known, raw, start)
    return [change.type.value for change in changes]


def _verdict(known: SessionState | None, raw: dict[str, object]) -> Verdict:
    return classify(known, fingerprint(parse_session(raw)))


def test_a_version_is_known_by_its_content_not_by_a_larger_updated_at() -> None:
    v1 = record(updated=10, entered=5)
    v2 = record(updated=20, entered=5, exited=18)
    _, known = apply(first_state(v1), v2)
    assert _verdict(known, v2) is Verdict.DUPLICATE  # the version applied last, read again
    assert _verdict(known, v1) is Verdict.REPLAYED  # an older one served again
    assert _verdict(known, record(updated=15, entered=5, exited=14)) is Verdict.NEW  # older stamp
    assert _verdict(known, record(updated=20, entered=5, exited=19)) is Verdict.NEW  # same stamp
    assert _verdict(None, v1) is Verdict.NEW


def test_a_second_write_in_the_same_millisecond_is_a_new_version() -> None:
    known = first_state(record(updated=10, status="checkout_pending"))
    assert _types(known, record(updated=10, status="completed")) == ["session.status_changed"]


def test_a_version_with_an_older_updated_at_still_adds_its_exit() -> None:
    known = first_state(record(updated=100, entered=90))
    # a second writer, its clock 5 s slow, records the exit after the first writer's change
    changes, state = apply(known, record(updated=95, entered=90, exited=96))
    assert [(c.type, c.new) for c in changes] == [(EventType.EXITED, at(96))]
    assert state.updated_at == at(100)  # the greatest updatedAt applied stays
    assert state.latest.exited_at == at(96)


def test_a_moment_that_moved_backwards_in_a_new_version_is_published_once() -> None:
    _, known = apply(first_state(record(updated=10, exited=96)), record(updated=11, exited=96))
    changes, known = apply(known, record(updated=12, exited=94))  # a slow writer's second exit
    assert [(c.type, c.old, c.new) for c in changes] == [(EventType.EXITED, at(96), at(94))]
    assert known.latest.exited_at == at(96)
    assert _types(known, record(updated=13, exited=94, visitors=2)) == []  # unchanged since
    assert _types(known, record(updated=14, exited=96)) == []  # the maximum: published already


def test_entry_exit_and_scan_move_forward() -> None:
    known = first_state(record(updated=10, entered=5))
    raw = record(updated=20, entered=15, exited=18, scanned=12)
    assert _types(known, raw) == ["session.entered", "session.exited", "session.code_scanned"]


def test_a_moment_that_did_not_move_is_no_change() -> None:
    known = first_state(record(updated=10, entered=5))
    assert _types(known, record(updated=20, entered=5)) == []


def test_fraud_flips_in_both_directions_and_status_changes() -> None:
    flagged = first_state(record(updated=10, fraud=True))
    assert _types(flagged, record(updated=20, fraud=False)) == ["session.suspected_fraud_changed"]
    assert _types(first_state(record(updated=10)), record(updated=20, fraud=True)) == [
        "session.suspected_fraud_changed"
    ]
    assert _types(first_state(record(updated=10)), record(updated=20, status="expired")) == [
        "session.status_changed"
    ]


def test_toggles_follow_the_version_applied_last_even_with_an_older_stamp() -> None:
    _, known = apply(first_state(record(updated=10)), record(updated=20, fraud=True))
    changes, known = apply(known, record(updated=15, fraud=False))  # cleared by a slow writer
    assert [(c.type, c.old, c.new, c.time) for c in changes] == [
        (EventType.SUSPECTED_FRAUD_CHANGED, True, False, at(15))
    ]
    assert known.suspected_fraud is False


def test_each_value_a_toggle_takes_is_numbered() -> None:
    known = first_state(record(updated=1))
    occurrences = []
    for step, fraud in enumerate([True, False, True, False], start=2):
        [change], known = apply(known, record(updated=step, fraud=fraud))
        occurrences.append((change.new, change.occurrence))
    assert occurrences == [(True, 1), (False, 1), (True, 2), (False, 2)]
    assert known.published("suspectedFraud=true") == 2


def test_a_replayed_version_changes_nothing() -> None:
    v1, v2 = record(updated=10, fraud=True), record(updated=20, fraud=False)
    _, known = apply(first_state(v1), v2)
    assert _verdict(known, v1) is Verdict.REPLAYED


def test_first_sight_emits_only_transitions_at_or_after_the_feed_start() -> None:
    raw = record(updated=100, created=10, entered=50, exited=90)
    assert _types(None, raw, start=60) == ["session.exited"]
    assert _types(None, raw, start=0) == ["session.created", "session.entered", "session.exited"]


def test_first_seen_fraud_true_always_counts_as_its_first_rise() -> None:
    changes, state = apply(None, record(updated=100, created=10, fraud=True), start=1000)
    assert [(c.type, c.old, c.new, c.occurrence) for c in changes] == [
        (EventType.SUSPECTED_FRAUD_CHANGED, None, True, 1)
    ]
    assert state.published("suspectedFraud=true") == 1


def test_change_time_is_the_api_timestamp() -> None:
    [change], _ = apply(first_state(record(updated=10)), record(updated=20, entered=15))
    assert change.time == at(15)


def test_first_sight_of_a_session_that_left_its_initial_status_since_the_start() -> None:
    raw = record(updated=100, created=10, status="completed")
    assert _types(None, raw, start=0) == ["session.created", "session.status_changed"]
    assert _types(None, raw, start=60) == []  # created before the start: history, not replayed
    assert _types(None, record(updated=100, created=10, status="active"), start=0) == [
        "session.created"
    ]
