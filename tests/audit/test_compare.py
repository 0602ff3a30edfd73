"""The audit's rule: the latest facts the API shows, each against the events read back."""

from __future__ import annotations

from dataclasses import replace

from feeder.audit.compare import AuditReport, Finding, TypeCounts, audit
from feeder.audit.published import PublishedEvent
from feeder.core.snapshot import SessionSnapshot
from tests.audit.events import feed, snapshot
from tests.core.sessions import at, record

START, END = at(100), at(200)


def check(sessions: list[SessionSnapshot], events: list[PublishedEvent]) -> AuditReport:
    return audit(sessions, events, window_start=START, window_end=END)


def counts(report: AuditReport, event_type: str) -> TypeCounts:
    return report.by_type[f"session.{event_type}"]


def test_a_complete_feed_has_every_fact_and_nothing_wrong() -> None:
    versions = [
        record("1", updated=110, created=105, entered=106),
        record("1", updated=150, created=105, entered=106, exited=140, fraud=True),
        record("1", updated=190, created=105, entered=180, exited=140, fraud=True, status="x"),
    ]
    report = check([snapshot(versions[-1])], feed(*versions))
    assert report.complete
    assert report.sessions == 1
    for event_type in ("created", "entered", "exited", "suspected_fraud_changed", "status_changed"):
        assert counts(report, event_type) == TypeCounts(facts=1, found=1), event_type
    assert counts(report, "code_scanned") == TypeCounts()


def test_a_lost_event_is_missing_with_what_the_api_shows() -> None:
    latest = record("1", updated=150, created=105, entered=140)
    events = [event for event in feed(latest) if event.type != "session.entered"]
    report = check([snapshot(latest)], events)
    assert not report.complete
    assert counts(report, "entered") == TypeCounts(facts=1, missing=1)
    assert report.missing == [
        Finding("1", "session.entered", "2026-11-01T12:02:20.000Z", None, None)
    ]


def test_only_the_latest_moment_is_claimed_and_an_earlier_one_is_consistent() -> None:
    first = record("1", updated=120, created=50, entered=110)
    second = record("1", updated=150, created=50, entered=140)
    report = check([snapshot(second)], feed(second))  # the entry at 110 was never published
    assert report.complete
    assert counts(report, "entered") == TypeCounts(facts=1, found=1)
    report = check([snapshot(second)], feed(first, second))
    assert counts(report, "entered") == TypeCounts(facts=1, found=1)
    assert counts(report, "created") == TypeCounts(older=1)  # created at 50, before the window


def test_an_event_newer_than_the_api_is_wrong() -> None:
    published = feed(record("1", updated=150, created=105, entered=145))
    api = snapshot(record("1", updated=150, created=105, entered=130))
    report = check([api], published)
    assert counts(report, "entered") == TypeCounts(facts=1, missing=1, wrong=1)
    (wrong,) = report.wrong
    assert (wrong.api, wrong.published) == ("2026-11-01T12:02:10.000Z", "2026-11-01T12:02:25.000Z")


def test_the_last_fraud_event_must_carry_the_current_flag() -> None:
    flagged = record("1", updated=120, created=105, fraud=True)
    cleared = record("1", updated=160, created=105, fraud=False)
    fraud = "suspected_fraud_changed"
    assert counts(check([snapshot(cleared)], feed(flagged, cleared)), fraud) == TypeCounts()
    report = check([snapshot(cleared)], feed(flagged))
    assert counts(report, fraud) == TypeCounts(wrong=1)
    assert report.wrong[0].api is False
    assert report.wrong[0].published is True
    report = check([snapshot(flagged)], feed(replace_fraud(flagged, False)))
    assert counts(report, fraud) == TypeCounts(facts=1, missing=1)


def replace_fraud(version: dict[str, object], fraud: bool) -> dict[str, object]:
    return {**version, "suspectedFraud": fraud}


def test_a_flag_set_before_the_window_is_confirmed_by_its_older_event() -> None:
    flagged = record("1", updated=50, created=40, fraud=True)
    later = record("1", updated=150, created=40, entered=140, fraud=True)
    report = check([snapshot(later)], feed(flagged, later))
    assert report.complete
    assert counts(report, "suspected_fraud_changed") == TypeCounts(facts=1, found=1)
    assert counts(report, "created") == TypeCounts(older=1)


def test_a_status_is_claimed_only_for_a_session_created_in_the_window() -> None:
    in_window = record("1", updated=150, created=110, status="completed")
    before = record("2", updated=150, created=90, status="completed")
    report = check([snapshot(in_window), snapshot(before)], [])
    assert counts(report, "status_changed") == TypeCounts(facts=1, missing=1)
    assert [finding.session_id for finding in report.missing] == ["1", "1"]  # status, created


def test_duplicates_by_id_are_counted_once_and_reported() -> None:
    latest = record("1", updated=150, created=105)
    events = feed(latest)
    report = check([snapshot(latest)], [*events, replace(events[0], offset=99)])
    assert report.complete
    assert counts(report, "created") == TypeCounts(facts=1, found=1, duplicates=1)


def test_events_of_sessions_outside_the_window_are_ignored() -> None:
    report = check([], feed(record("9", updated=150, created=105, entered=110)))
    assert report.complete
    assert report.sessions == 0
    assert all(row == TypeCounts() for row in report.by_type.values())


def test_a_session_without_created_at_claims_no_creation() -> None:
    latest = record("1", updated=150, createdAt=None)
    report = check([snapshot(latest)], [])
    assert report.complete
    assert counts(report, "created") == TypeCounts()
