"""End-to-end harness: the simulator (real HTTP), a real FeedApp, the real Kafka broker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
from feeder_devkit.simulator.server import ThreadedSimulator
from feeder_devkit.simulator.settings import SimulatorSettings

from feeder.core.passes import reread_passes
from feeder.core.timestamps import parse_timestamp, utc_now
from feeder.runtime.feed import FeedApp
from feeder.settings import FeederSettings
from tests.e2e.oracle import Expectations, PassTiming, expectations
from tests.kafka_reading import ReadRecord, read_topic

REREAD_DELAYS_S = (0.5, 1.0, 2.0)
LOOKBACK_S = 4.0


def busy_store(
    seed: int, traffic: dict[str, object] | None = None, **faults: object
) -> SimulatorSettings:
    """A lively simulated store: sessions live seconds, not minutes; many ties and fraud flips.

    ``traffic`` overrides traffic settings (hot sessions, writers' clock skews); ``faults`` sets
    fault settings (late-visible commits, a lagging replica). What the simulator served is
    tracked, for :mod:`tests.e2e.oracle`.
    """
    return SimulatorSettings.model_validate(
        {
            # above the feeder's budget (50/s): these tests are about the feed, not the 503s
            "server": {"port": 0, "rate_limit_per_s": 100},
            "traffic": {
                "seed": seed,
                "stores": 5,
                "new_sessions_per_s": 15,
                "speedup": 300,
                "tie_share": 0.3,
                "fraud_share": 0.3,
                "reentry_share": 0.5,
                **(traffic or {}),
            },
            "faults": faults,
            "ground_truth": {"track_served": True},
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
    heartbeat: dict[str, object] | None = None,
    feed_name: str | None = None,
    checkpoint_backend: str = "sqlite",
    delivery: dict[str, object] | None = None,
    **sweep: object,
) -> FeederSettings:
    """Fast-polling settings against the simulator, with topics and a feed name no other test
    uses; ``events`` are the event settings (content mode, field policy, …), ``heartbeat`` the
    heartbeat settings, ``delivery`` the delivery settings; ``checkpoint`` is the SQLite file
    (or, with ``checkpoint_backend="kafka"``, its local cache)."""
    suffix = uuid.uuid4().hex[:8]
    sweep_settings = {
        "start_position": "earliest",
        "poll_interval_s": 0.2,
        "reread_delays_s": REREAD_DELAYS_S,
        "lookback_s": LOOKBACK_S,
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
                    "heartbeat": f"heartbeat-{suffix}",
                    "checkpoint": f"checkpoint-{suffix}",
                },
            },
            "feed_name": feed_name or f"feed-{suffix}",
            "checkpoint": {"backend": checkpoint_backend, "path": str(checkpoint)},
            "delivery": delivery or {},
            "events": events or {},
            "heartbeat": heartbeat or {},
            "observability": {"port": 0},
        }
    )


def timing(settings: FeederSettings, *, retried: bool = False) -> PassTiming:
    """What bounds the transitions this feed may have missed, from its configuration alone
    (see :mod:`tests.e2e.oracle`). ``retried``: the test makes the API fail now and then, so a
    read may wait out retries: one capped backoff (``backoff_max_s``; the exponential backoffs
    from ``backoff_initial_s`` that come before it add up to less)."""
    passes = reread_passes(settings.sweep.all_reread_delays_s, settings.sweep.poll_interval_s)
    return PassTiming(
        retry_allowance_s=settings.api.backoff_max_s if retried else 0.0,
        poll_interval_s=settings.sweep.poll_interval_s,
        reread_delays_s=[p.delay_s for p in passes],
        cadences_s=[p.cadence_s for p in passes],
    )


def feed_expectations(
    sim: ThreadedSimulator,
    settings: FeederSettings,
    *,
    hidden_spans: Sequence[tuple[datetime, datetime]] = (),
    blind_spans: Sequence[tuple[datetime, datetime]] = (),
    retried: bool = False,
) -> Expectations:
    """What a feed configured by ``settings`` must have published of what ``sim`` did (call
    once the feed caught up); ``hidden_spans`` and ``blind_spans`` are the fault windows the
    test declares (see ``expectations``), ``retried`` as for :func:`timing`."""
    transitions = sim.call(lambda s: s.ground_truth())
    versions = sim.call(lambda s: s.versions())
    return expectations(
        transitions,
        versions,
        timing(settings, retried=retried),
        hidden_spans=hidden_spans,
        blind_spans=blind_spans,
    )


@contextlib.asynccontextmanager
async def running_feed(
    settings: FeederSettings, *, clock: Callable[[], datetime] = utc_now
) -> AsyncIterator[FeedApp]:
    """A FeedApp (on ``clock``) running in a task; stopped gracefully (and its failure raised)
    at exit."""
    app = FeedApp(settings, clock=clock)
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


async def read_again_since(app: FeedApp, moment: datetime, timeout_s: float = 90) -> datetime:
    """Until a live read begun after ``moment`` finished and was delivered (the feed sees the
    source again, after a fault that ended at ``moment``); when it had: a fault window's end."""
    await wait_until(
        lambda: (
            app.sweeper is not None
            and app.sweeper.live_read_at is not None
            and app.sweeper.live_read_at > moment
        ),
        timeout_s=timeout_s,
        what=f"a live read begun after {moment.isoformat()}",
    )
    return now()


def caught_up(app: FeedApp, moment: datetime) -> bool:
    """A live read begun after ``moment`` finished, and every re-read pass has re-read all the
    live pass read."""
    sweeper = app.sweeper
    if sweeper is None or sweeper.live_read_at is None or sweeper.live_read_at < moment:
        return False
    return all(cursor >= sweeper.position.live for _, cursor in sweeper.position.rereads)


async def wait_caught_up(app: FeedApp, moment: datetime, timeout_s: float = 60) -> None:
    """Until the feed has read, and re-read, everything visible at ``moment``."""
    await wait_until(
        lambda: caught_up(app, moment),
        timeout_s=timeout_s,
        what=f"the feed to read and re-read everything visible at {moment.isoformat()}",
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


def now() -> datetime:
    return utc_now()


def assert_exactly_once(
    events: list[PublishedEvent],
    expect: Expectations,
    *,
    first_times: bool = True,
    resends_allowed: bool = False,
) -> Counter[str]:
    """Every observable transition has exactly one event (the expected id and time), no event
    is invented, no transition has two ids, and every unseen transition was excusable.

    ``first_times``: a toggle's time is the updatedAt of the first version served showing it
    (no page was lost to a fault and read again). ``resends_allowed``: an event may be in the
    topic more than once with the same id (at-least-once after a crash). Returns the distinct
    events per type.
    """
    assert expect.unexcusable == [], (
        f"{len(expect.unexcusable)} transitions were never served though they held longer than "
        f"the feed may miss: {expect.unexcusable[:3]}"
    )
    records = Counter(event.id for event in events)
    if not resends_allowed:
        resent = [event_id for event_id, count in records.items() if count > 1]
        assert resent == [], f"{len(resent)} events were published more than once"
    distinct = list({event.id: event for event in events}.values())
    by_id = expect.by_id()
    invented = [event for event in distinct if event.id not in by_id]
    assert invented == [], f"{len(invented)} events match no observable transition: {invented[:3]}"
    per_transition = Counter(by_id[event.id].transition.seq for event in distinct)
    twice = [seq for seq, count in per_transition.items() if count > 1]
    assert twice == [], f"{len(twice)} transitions were published under two ids"
    missing = [x for x in expect.expected if x.required and not x.ids & records.keys()]
    assert missing == [], f"{len(missing)} of {len(expect.expected)} missed: {missing[:3]}"
    wrong_time = [
        (event, by_id[event.id])
        for event in distinct
        if event.time
        not in ({by_id[event.id].first_time} if first_times else by_id[event.id].times)
    ]
    assert wrong_time == [], f"{len(wrong_time)} events carry the wrong time: {wrong_time[:3]}"
    return Counter(event.type for event in distinct)


async def traffic_until(sim: ThreadedSimulator, transitions: int) -> None:
    """Let the traffic model run until it made ``transitions`` more transitions."""
    target = sim.call(lambda s: s.last_seq) + transitions
    await wait_until(
        lambda: sim.call(lambda s: s.last_seq) >= target,
        timeout_s=120,
        what=f"{transitions} transitions",
    )


async def quiesce(sim: ThreadedSimulator, app: FeedApp) -> None:
    """Stop the traffic, let every held commit become visible, wait until the feed has read and
    re-read all of it."""
    sim.call(lambda s: s.pause())
    await wait_until(
        lambda: sim.call(lambda s: s.held_changes) == 0, timeout_s=60, what="held commits"
    )
    await wait_caught_up(app, now(), timeout_s=120)
