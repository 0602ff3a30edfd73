"""What `feeder verify` prints: the table, the JSON document and the verdict."""

from __future__ import annotations

import io

from feeder.audit.compare import audit
from feeder.commands.verify import Verification, VerifyProgress, document, render_table
from feeder.commands.verify_sources import TopicRead, WindowRead
from tests.audit.events import feed, snapshot
from tests.core.sessions import at, record


def verification() -> Verification:
    complete = record("1", updated=150, created=110, entered=120)
    lost = record("2", updated=160, created=115, fraud=True)
    events = feed(complete)
    sessions = [snapshot(complete), snapshot(lost)]
    report = audit(sessions, [*events, events[0]], window_start=at(100), window_end=at(200))
    return Verification(
        report,
        "events-x",
        WindowRead(sessions, unreadable=1, pages=1),
        TopicRead(events, records=len(events) + 2, unreadable=1),
    )


def test_the_table_lists_each_type_the_totals_and_every_finding() -> None:
    table = render_table(verification())
    assert "verify 2026-11-01T12:01:40.000Z .. 2026-11-01T12:03:20.000Z" in table
    assert "  API: 2 sessions in 1 pages (1 records not valid sessions)" in table
    assert "  events topic events-x: 4 records read (1 not readable events)" in table
    rows = {
        line.split()[0]: line.split()[1:] for line in table.splitlines() if line.startswith("s")
    }
    assert rows["session.created"] == ["2", "1", "1", "0", "1", "0"]
    assert rows["session.suspected_fraud_changed"] == ["1", "0", "1", "0", "0", "0"]
    assert "all" + " " * 31 + "           4           2           2" in table
    assert "missing (2):" in table
    missing_created = "  session 2            session.created" + " " * 20
    assert f'{missing_created}API "2026-11-01T12:01:55.000Z"  no event' in table
    assert "wrong: none" in table
    assert table.endswith("INCOMPLETE: 2 facts have no event, 0 events contradict the API")


def test_the_json_document_has_every_count_and_finding() -> None:
    shown = document(verification())
    assert shown["complete"] is False
    assert shown["api"] == {"sessions": 2, "records": 3, "unreadable_records": 1, "pages": 1}
    assert shown["totals"] == {
        "facts": 4, "found": 2, "missing": 2, "wrong": 0, "duplicates": 1, "older": 0
    }  # fmt: skip
    assert shown["missing"][1] == {
        "session_id": "2",
        "type": "session.suspected_fraud_changed",
        "api": True,
        "published": None,
        "event_id": None,
    }


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_rate_and_eta_in_a_terminal_only() -> None:
    seconds = iter([0.0, 10.0, 20.0])
    terminal = Terminal()
    progress = VerifyProgress(at(0), at(100), terminal, clock_s=lambda: next(seconds))
    window = WindowRead([snapshot(record("1", updated=25))] * 50, unreadable=0, pages=1)
    progress.api_page(window)  # a quarter of the window in 10 s: 30 s to go
    assert "API    [#######                       ]  25.0%  50 records  5/s  ETA 30.0 s" in (
        terminal.getvalue()
    )
    piped = io.StringIO()
    VerifyProgress(at(0), at(100), piped).api_page(window)
    assert piped.getvalue() == ""
