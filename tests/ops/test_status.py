"""`feeder status` on a real SQLite checkpoint (read-only) and on metrics text."""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry, generate_latest

from feeder.checkpoint import SqliteCheckpointStore
from feeder.commands import status
from feeder.commands.status_sources import parse_metrics
from feeder.core.diff import EventType
from feeder.core.state import FeedPosition, SessionState
from feeder.observability.metrics import FeederMetrics
from tests.core.sessions import tracked_state

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=10)


def state(session_id: str, updated_s: float, *, fraud: bool = False) -> SessionState:
    return tracked_state(session_id, T0 + timedelta(seconds=updated_s), fraud=fraud)


POSITION = FeedPosition(
    feed_start=T0,
    live=T0 + timedelta(seconds=570),
    rereads=((4.0, T0 + timedelta(seconds=565)), (300.0, T0 + timedelta(seconds=270))),
)


def args(**given: object) -> argparse.Namespace:
    return argparse.Namespace(
        **{"checkpoint": None, "metrics_url": None, "timeout_s": 2.0, **given}
    )


@pytest_asyncio.fixture
async def committed(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "feeder.sqlite3"
    store = await SqliteCheckpointStore.open(path)
    await store.commit([state("1", 100), state("2", 200, fraud=True), state("3", 560)], POSITION)
    await store.aclose()
    yield path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reads_a_closed_checkpoint_without_touching_it(committed: Path) -> None:
    before = digest(committed)
    siblings = sorted(p.name for p in committed.parent.iterdir())
    document, problems = status.collect(args(checkpoint=committed), NOW)
    assert problems == []
    assert document["checkpoint"] == {
        "path": str(committed),
        "bytes_on_disk": committed.stat().st_size,
        "committed": True,
        "feed_start": "2026-11-01T12:00:00.000Z",
        "live_cursor": "2026-11-01T12:09:30.000Z",
        "live_lag_s": 30.0,
        "reread_cursors": {
            "reread_4s": {"cursor": "2026-11-01T12:09:25.000Z", "lag_s": 35.0},
            "reread_300s": {"cursor": "2026-11-01T12:04:30.000Z", "lag_s": 330.0},
        },
        "tracked_sessions": 3,
        "flagged_sessions": 1,
        "newest_updated_at": "2026-11-01T12:09:20.000Z",
    }
    assert digest(committed) == before
    assert sorted(p.name for p in committed.parent.iterdir()) == siblings
    text = status.render_text(document)
    assert "live cursor         2026-11-01T12:09:30.000Z  (lag 30.0 s)" in text
    assert "reread_300s cursor  2026-11-01T12:04:30.000Z  (lag 5.5 min)" in text
    assert "tracked sessions    3 (1 flagged as suspected fraud)" in text


@pytest.mark.asyncio
async def test_reads_a_checkpoint_that_a_running_feed_is_writing(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite3"
    store = await SqliteCheckpointStore.open(path)
    try:
        await store.commit([state("1", 10)], POSITION)
        first, _ = status.collect(args(checkpoint=path), NOW)
        later = FeedPosition(T0, T0 + timedelta(seconds=590), POSITION.rereads)
        await store.commit([state("2", 580)], later)
        second, problems = status.collect(args(checkpoint=path), NOW)
        await store.commit([state("3", 585)], later)
    finally:
        await store.aclose()
    assert problems == []
    assert first["checkpoint"]["tracked_sessions"] == 1
    assert second["checkpoint"]["tracked_sessions"] == 2
    assert second["checkpoint"]["live_lag_s"] == 10.0


@pytest.mark.asyncio
async def test_a_checkpoint_that_never_committed(tmp_path: Path) -> None:
    path = tmp_path / "fresh.sqlite3"
    store = await SqliteCheckpointStore.open(path)
    await store.aclose()
    document, problems = status.collect(args(checkpoint=path), NOW)
    assert problems == []
    assert document["checkpoint"]["committed"] is False
    assert "no page committed yet" in status.render_text(document)


def test_the_default_path_comes_from_the_settings(
    committed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDER_CHECKPOINT__PATH", str(committed))
    document, problems = status.collect(args(), NOW)
    assert problems == []
    assert document["checkpoint"]["path"] == str(committed)


def test_missing_sources_are_reported_and_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.sqlite3"
    code = status.run(
        args(checkpoint=missing, metrics_url="http://127.0.0.1:9/metrics", json=False)
    )
    assert code == 1
    stderr = capsys.readouterr().err
    assert "no checkpoint file" in stderr
    assert "cannot read metrics from http://127.0.0.1:9/metrics" in stderr
    assert not missing.exists()


def test_metrics_are_summarised_counting_each_event_once() -> None:
    metrics = FeederMetrics(CollectorRegistry(), lambda: NOW)
    metrics.events_published.labels("session.suspected_fraud_changed", "oasis.sessions.events").inc(
        2
    )
    metrics.events_published.labels("session.suspected_fraud_changed", "oasis.sessions.fraud").inc(
        2
    )
    metrics.events_published.labels("session.entered", "oasis.sessions.events").inc(5)
    metrics.dead_letters.labels("updatedAt").inc(3)
    metrics.api_requests.labels("ok", "200").inc(7)
    metrics.api_requests.labels("retriable_status", "503").inc(1)
    metrics.tracked_sessions.set(42)
    exposition = generate_latest(metrics.registry).decode()
    summary = parse_metrics("http://x/metrics", exposition, "oasis.sessions.events")
    assert summary.events_by_type == {
        "session.suspected_fraud_changed": 2.0,
        "session.entered": 5.0,
    }
    assert summary.dead_letters == 3.0
    assert summary.requests_by_outcome == {"ok": 7.0, "retriable_status": 1.0}
    assert summary.tracked_sessions == 42.0
    assert summary.lag_s == {}  # no tick has finished: no watermark yet
    assert summary.version


def test_recent_freshness_quantiles_are_shown_per_event_type() -> None:
    metrics = FeederMetrics(CollectorRegistry(), lambda: NOW)
    for seconds in (0.4, 0.6, 0.7, 0.9, 2.5):
        metrics.recent_freshness.observe(EventType.ENTERED, seconds)
    metrics.recent_freshness.observe(EventType.SUSPECTED_FRAUD_CHANGED, 40.0)
    exposition = generate_latest(metrics.registry).decode()
    summary = parse_metrics("http://x/metrics", exposition, "oasis.sessions.events")
    assert set(summary.recent_freshness_s) == {"session.entered", "session.suspected_fraud_changed"}
    document = status.metrics_document(summary, NOW)
    entered = document["recent_freshness_s"]["session.entered"]
    assert set(entered) == {"p50", "p99"}
    assert 0.5 < entered["p50"] <= 1.0
    assert 2.0 < entered["p99"] <= 3.0
    assert 30 < document["recent_freshness_s"]["session.suspected_fraud_changed"]["p99"] <= 60
    text = status.render_text({"metrics": document})
    assert "  freshness over the last 5.0 min" in text
    assert "    session.suspected_fraud_changed   p50 " in text


def test_without_recent_events_status_says_so() -> None:
    metrics = FeederMetrics(CollectorRegistry(), lambda: NOW)
    exposition = generate_latest(metrics.registry).decode()
    document = status.metrics_document(parse_metrics("u", exposition, "events"), NOW)
    assert document["recent_freshness_s"] == {}
    assert "freshness over the last 5.0 min: no events" in status.render_text({"metrics": document})
