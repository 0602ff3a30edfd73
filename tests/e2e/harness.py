"""End-to-end harness: the simulator (real HTTP), a real FeedApp, the real Kafka broker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from feeder.app import FeedApp
from feeder.core.timestamps import parse_timestamp
from feeder.settings import FeederSettings
from feeder.simulator.ground_truth import Transition
from feeder.simulator.settings import SimulatorSettings
from feeder.source.timing import utc_now
from tests.kafka_reading import ReadRecord, read_topic

KIND_OF_TYPE = {
    "session.created": "created",
    "session.entered": "entered",
    "session.exited": "exited",
    "session.code_scanned": "code_scanned",
    "session.suspected_fraud_changed": "suspected_fraud_changed",
    "session.status_changed": "status_changed",
}


def busy_store(seed: int, **faults: object) -> SimulatorSettings:
    """A lively simulated store: sessions live seconds, not minutes; many ties and fraud flips."""
    return SimulatorSettings.model_validate(
        {
            "server": {"port": 0},
            "traffic": {
                "seed": seed,
                "stores": 5,
                "new_sessions_per_s": 15,
                "speedup": 300,
                "tie_share": 0.3,
                "fraud_share": 0.3,
                "reentry_share": 0.5,
            },
            "faults": faults,
        }
    )


def feeder_settings(
    base_url: str,
    token: str,
    bootstrap: str,
    checkpoint: Path,
    *,
    page_size: int = 200,
    events: dict[str, object] | None = None,
    **sweep: object,
) -> FeederSettings:
    """Fast-polling settings against the simulator, with topics no other test uses; ``events``
    are the event settings (content mode, field policy, …)."""
    suffix = uuid.uuid4().hex[:8]
    sweep_settings = {
        "start_position": "earliest",
        "poll_interval_s": 0.2,
        "settle_delay_s": 0.3,
        "lookback_s": 2.0,
        "trailing_interval_s": 0.5,
        "shutdown_grace_s": 5.0,
        **sweep,
    }
    return FeederSettings.model_validate(
        {
            "api": {
                "base_url": base_url,
                "token": token,
                "requests_per_s": 50,
                "page_size": page_size,
                "backoff_initial_s": 0.05,
                "backoff_max_s": 0.5,
                "request_timeout_s": 2,
                "connect_timeout_s": 2,
                "max_attempts": 4,
            },
            "sweep": sweep_settings,
            "kafka": {
                "bootstrap_servers": bootstrap,
                "partitions": 2,
                "send_timeout_s": 15,
                "topics": {
                    "events": f"events-{suffix}",
                    "fraud": f"fraud-{suffix}",
                    "state": f"state-{suffix}",
                    "dead_letter": f"dlq-{suffix}",
                },
            },
            "checkpoint": {"backend": "sqlite", "path": str(checkpoint)},
            "events": events or {},
            "observability": {"port": 0},
        }
    )


@contextlib.asynccontextmanager
async def running_feed(settings: FeederSettings) -> AsyncIterator[FeedApp]:
    """A FeedApp running in a task; stopped gracefully (and its failure raised) at exit."""
    app = FeedApp(settings)
    task = asyncio.create_task(app.run(install_signal_handlers=False))
    started = asyncio.create_task(app.started.wait())
    await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED, timeout=60)
    if task.done():
        started.cancel()
        task.result()
    try:
        yield app
    finally:
        app.stopping.set()
        await asyncio.wait_for(task, 30)


async def wait_until(condition: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Poll ``condition`` until true; fail with ``what`` after ``timeout_s`` (a bounded wait,
    not a speed assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_caught_up(app: FeedApp, moment: datetime, timeout_s: float = 60) -> None:
    """Until the live sweep has read everything up to ``moment``."""
    await wait_until(
        lambda: app.sweeper is not None and app.sweeper.position.live >= moment,
        timeout_s=timeout_s,
        what=f"the feed to reach {moment.isoformat()}",
    )


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    id: str
    type: str
    session_id: str
    time: datetime
    new: object
    record: ReadRecord


async def published_events(bootstrap: str, topic: str) -> list[PublishedEvent]:
    events = []
    for record in await read_topic(bootstrap, topic):
        assert record.value is not None
        envelope = orjson.loads(record.value)
        [change] = envelope["data"]["changed"].values()
        events.append(
            PublishedEvent(
                id=envelope["id"],
                type=envelope["type"],
                session_id=envelope["subject"],
                time=parse_timestamp(envelope["time"]),
                new=change["new"],
                record=record,
            )
        )
    return events


TOGGLE_KINDS = frozenset({"suspected_fraud_changed", "status_changed"})


def matching_transition(event: PublishedEvent, transitions: list[Transition]) -> Transition | None:
    """The ground-truth transition an event reports, or ``None`` if it reports none.

    Moments match on their own timestamp. Fraud and status changes have no timestamp in the
    API: the event's time is the ``updatedAt`` of the snapshot the poller saw, so it matches a
    transition to the same new value that was in force then — the latest one at or before that
    time, or one tied with it (two writes in the same millisecond).
    """
    kind = KIND_OF_TYPE[event.type]
    same = [t for t in transitions if t.session_id == event.session_id and t.kind == kind]
    if kind not in TOGGLE_KINDS:
        return next((t for t in same if t.at == event.time), None)
    before = [t for t in same if t.at <= event.time]
    if not before:
        return None
    latest = max(t.at for t in before)
    in_force = [t for t in before if t.at == latest and t.new == event.new]
    return in_force[-1] if in_force else None


def lasting_transitions(transitions: list[Transition], min_visible_s: float) -> list[Transition]:
    """The transitions a poller must report.

    A transition counts when it stayed visible at least ``min_visible_s`` before a later one of
    the same kind on the same session replaced it (the last of each kind always qualifies). A
    fraud or status change that only undid a change nobody could see (``true`` for 50 ms, then
    ``false`` again) is invisible too: the poller saw the same value before and after.
    """

    def visible_for(index: int) -> float | None:
        current = transitions[index]
        successor = next(
            (
                later
                for later in transitions[index + 1 :]
                if later.session_id == current.session_id and later.kind == current.kind
            ),
            None,
        )
        return (
            None
            if successor is None
            else (successor.visible_at - current.visible_at).total_seconds()
        )

    def lasted(index: int) -> bool:
        seconds = visible_for(index)
        return seconds is None or seconds >= min_visible_s

    lasting = []
    for index, transition in enumerate(transitions):
        if not lasted(index):
            continue
        if transition.kind in TOGGLE_KINDS:
            predecessor = next(
                (
                    earlier
                    for earlier in reversed(range(index))
                    if transitions[earlier].session_id == transition.session_id
                    and transitions[earlier].kind == transition.kind
                ),
                None,
            )
            if (
                predecessor is not None
                and not lasted(predecessor)
                and transitions[predecessor].old == transition.new
            ):
                continue
        lasting.append(transition)
    return lasting


MIN_VISIBLE_S = 3.0
"""A transition replaced by the next one of its kind sooner than this may be invisible to a
poller (DESIGN §3); anything that lasted longer must have reached Kafka."""


def assert_feed_matches_ground_truth(
    events: list[PublishedEvent], transitions: list[Transition]
) -> Counter[str]:
    """No invented event, one distinct event id per transition, every lasting transition
    reported; returns the count of distinct events per type."""
    distinct = list({event.id: event for event in events}.values())  # a re-send shares its id
    matched = {event.id: matching_transition(event, transitions) for event in distinct}
    invented = [event for event in distinct if matched[event.id] is None]
    assert invented == [], "\n".join(
        [f"{len(invented)} events match no transition, e.g. {invented[0]}"]
        + [f"  {t}" for t in transitions if t.session_id == invented[0].session_id]
    )
    ids_per_transition = Counter(t.seq for t in matched.values() if t is not None)
    assert [seq for seq, count in ids_per_transition.items() if count > 1] == []
    lasting = lasting_transitions(transitions, MIN_VISIBLE_S)
    missed = [t for t in lasting if t.seq not in ids_per_transition]
    assert missed == [], f"{len(missed)} of {len(lasting)} lasting transitions missed: {missed[:5]}"
    return Counter(event.type for event in distinct)


def now() -> datetime:
    return utc_now()
