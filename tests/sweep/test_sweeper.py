"""The sweeper with in-memory parts: ties, restarts, failed deliveries, late writes, bad records."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace

import orjson
import pytest

from feeder.checkpoint import MemoryCheckpointStore
from feeder.core.encoding import EventEncoding
from feeder.core.records import TopicNames
from feeder.core.state import FeedPosition
from feeder.errors import ApiUnavailableError, SinkUnavailableError
from feeder.sink import MemorySink
from feeder.sweeper import SweepConfig, Sweeper, SweepKind
from tests.core.sessions import at, record
from tests.sweep.doubles import CountingObserver, ListedSessions, SettableClock

pytestmark = pytest.mark.asyncio
TOPICS = TopicNames("events", "fraud", "state", "dlq")


async def make_sweeper(
    api: ListedSessions,
    store: MemoryCheckpointStore,
    sink: MemorySink,
    clock: SettableClock,
    *,
    page_size: int = 2,
    lookback_s: float = 0,
    trailing_interval_s: float = 0,
    max_record_bytes: int = 1_000_000,
    feed_start: float = 0,
) -> tuple[Sweeper, CountingObserver]:
    observer = CountingObserver()
    config = SweepConfig(
        page_size=page_size,
        lookback_s=lookback_s,
        trailing_interval_s=trailing_interval_s,
        max_record_bytes=max_record_bytes,
        settle_delay_s=2,
        encoding=EventEncoding(source="urn:test"),
        topics=TOPICS,
    )
    sweeper = Sweeper(
        source=api,
        sink=sink,
        store=store,
        config=config,
        position=await Sweeper.resume_position(store, at(feed_start)),
        clock=clock,
        observer=observer,
        stopping=asyncio.Event(),
    )
    return sweeper, observer


def event_ids(sink: MemorySink) -> list[str]:
    return [str(orjson.loads(r.value)["id"]) for r in sink.on_topic("events")]


def event_types(sink: MemorySink) -> Counter[str]:
    return Counter(str(orjson.loads(r.value)["type"]) for r in sink.on_topic("events"))


async def test_ties_across_page_boundaries_are_each_delivered_once() -> None:
    api, store, sink, clock = (
        ListedSessions(),
        MemoryCheckpointStore(),
        MemorySink(),
        SettableClock(at(100)),
    )
    for number in range(7):
        api.put(record(f"s{number}", created=5, updated=10))
    sweeper, _ = await make_sweeper(api, store, sink, clock, page_size=2)
    await sweeper.sweep_until_caught_up()
    assert event_types(sink) == {"session.created": 7}
    assert len(api.queries) == 4  # 2 + 2 + 2 + 1
    assert sweeper.position.live == at(98)  # now - settle once caught up
    await sweeper.sweep_until_caught_up()  # the overlap re-reads nothing new
    assert event_types(sink) == {"session.created": 7}


async def test_restart_resumes_from_the_checkpoint() -> None:
    api, store, clock = ListedSessions(), MemoryCheckpointStore(), SettableClock(at(100))
    api.put(record("a", created=5, updated=10, entered=10))
    first_sink = MemorySink()
    first, _ = await make_sweeper(api, store, first_sink, clock)
    await first.sweep_until_caught_up()
    api.put(record("a", created=5, updated=150, entered=10, exited=150))
    clock.advance(100)
    second_sink = MemorySink()
    second, _ = await make_sweeper(api, store, second_sink, clock)
    await second.sweep_until_caught_up()
    assert event_types(first_sink) == {"session.created": 1, "session.entered": 1}
    assert event_types(second_sink) == {"session.exited": 1}
    assert api.queries[-1].min_updated_at == at(98)


async def test_a_page_kafka_did_not_acknowledge_is_resent_with_the_same_ids() -> None:
    api, store, sink, clock = (
        ListedSessions(),
        MemoryCheckpointStore(),
        MemorySink(),
        SettableClock(at(100)),
    )
    for number in range(6):
        api.put(record(f"s{number}", created=number, updated=number + 1, entered=number + 1))
    reference_sink = MemorySink()
    reference, _ = await make_sweeper(api, MemoryCheckpointStore(), reference_sink, clock)
    await reference.sweep_until_caught_up()

    crashing, _ = await make_sweeper(api, store, sink, clock)
    original_publish = sink.publish
    calls = 0

    async def publish_then_crash(records):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:  # half of page 2 reaches Kafka, then the process dies
            await original_publish(records[: len(records) // 2])
            raise SinkUnavailableError("broker went away")
        await original_publish(records)

    sink.publish = publish_then_crash  # type: ignore[method-assign]
    with pytest.raises(SinkUnavailableError):
        await crashing.sweep_until_caught_up()
    sink.publish = original_publish  # type: ignore[method-assign]
    restarted, _ = await make_sweeper(api, store, sink, clock)
    await restarted.sweep_until_caught_up()

    assert set(event_ids(sink)) == set(event_ids(reference_sink))
    assert len(event_ids(sink)) > len(set(event_ids(sink)))  # some were re-sent...
    assert Counter(event_ids(sink)).most_common(1)[0][1] == 2  # ...at most once more


async def test_late_visible_writes_are_caught_by_the_trailing_sweep() -> None:
    api, store, sink, clock = (
        ListedSessions(),
        MemoryCheckpointStore(),
        MemorySink(),
        SettableClock(at(100)),
    )
    api.put(record("early", created=1, updated=50))
    sweeper, observer = await make_sweeper(api, store, sink, clock, lookback_s=60)
    await sweeper.sweep_until_caught_up()
    # A write that committed late: updatedAt 60, visible only after the live sweep passed it.
    api.put(record("late", created=1, updated=60, entered=60))
    for _ in range(10):
        clock.advance(10)
        await sweeper.sweep_until_caught_up()
    assert event_types(sink) == {"session.created": 2, "session.entered": 1}
    # found by the trailing sweep of [58, 68] at clock 130: 70 s after its updatedAt
    assert [plan.late_ages_s for _, plan in observer.pages if plan.late_ages_s] == [(70.0,)]
    trailing = [position for kind, position in observer.finished if kind is SweepKind.TRAILING]
    assert trailing[-1].trailing == at(200 - 62)


async def test_malformed_records_are_dead_lettered_whole_and_the_sweep_goes_on() -> None:
    api, store, sink, clock = (
        ListedSessions(),
        MemoryCheckpointStore(),
        MemorySink(),
        SettableClock(at(100)),
    )
    bad = record("bad", created=1, updated=5)
    bad["customerLastEnteredAt"] = "not a date"
    api.put(bad)
    api.put(record("good", created=1, updated=6))
    sweeper, _ = await make_sweeper(api, store, sink, clock)
    await sweeper.sweep_until_caught_up()
    [letter] = sink.on_topic("dlq")
    assert orjson.loads(letter.value) == bad
    assert dict(letter.headers)["feeder_error_field"] == b"customerLastEnteredAt"
    assert event_types(sink) == {"session.created": 1}


async def test_out_of_order_pages_are_counted() -> None:
    api, store, sink, clock = (
        ListedSessions(reverse_pages=True),
        MemoryCheckpointStore(),
        MemorySink(),
        SettableClock(at(100)),
    )
    for number in range(4):
        api.put(record(f"s{number}", created=1, updated=number + 1))
    sweeper, observer = await make_sweeper(api, store, sink, clock)
    await sweeper.sweep_until_caught_up()
    # pages [s1, s0] and [s3, s2]: one violation inside each
    assert sum(plan.order_violations for _, plan in observer.pages) == 2


async def test_a_cursor_that_does_not_move_is_refused() -> None:
    class StuckApi(ListedSessions):
        async def fetch_page(self, query):  # type: ignore[no-untyped-def]
            page = await super().fetch_page(replace(query, after=None))
            return type(page)(page.records, "stuck", 0.0)

    api, clock = StuckApi(), SettableClock(at(100))
    for number in range(3):
        api.put(record(f"s{number}", created=1, updated=2))
    sweeper, _ = await make_sweeper(api, MemoryCheckpointStore(), MemorySink(), clock)
    with pytest.raises(ApiUnavailableError, match="cursor"):
        await sweeper.sweep_until_caught_up()


async def test_feed_start_now_does_not_replay_history() -> None:
    api, store, sink, clock = (
        ListedSessions(),
        MemoryCheckpointStore(),
        MemorySink(),
        SettableClock(at(100)),
    )
    api.put(record("old", created=1, updated=95, entered=20, fraud=True))
    sweeper, _ = await make_sweeper(api, store, sink, clock, feed_start=90)
    assert sweeper.position == FeedPosition(at(90), at(90), at(90))
    await sweeper.sweep_until_caught_up()
    assert event_types(sink) == {"session.suspected_fraud_changed": 1}


async def test_the_trailing_sweep_waits_until_its_window_spans_the_interval() -> None:
    api, clock = ListedSessions(), SettableClock(at(1000))
    sweeper, _ = await make_sweeper(
        api, MemoryCheckpointStore(), MemorySink(), clock, lookback_s=60, trailing_interval_s=30
    )
    await sweeper.sweep_until_caught_up()  # live + trailing (its window spans 938 s)
    for _ in range(29):
        clock.advance(1)
        await sweeper.sweep_until_caught_up()  # live only: one request per poll when idle
    clock.advance(1)
    await sweeper.sweep_until_caught_up()  # the trailing window spans 30 s again
    assert len(api.queries) == 2 + 29 + 2
    assert [q.min_updated_at for q in api.queries[-1:]] == [at(1000 - 62)]


async def test_a_record_too_large_for_kafka_is_dead_lettered_as_a_stand_in() -> None:
    api, store, sink, clock = (
        ListedSessions(),
        MemoryCheckpointStore(),
        MemorySink(),
        SettableClock(at(100)),
    )
    api.put(record("huge", created=1, updated=5, metadata={"blob": "x" * 5000}))
    api.put(record("small", created=1, updated=6))
    sweeper, _ = await make_sweeper(api, store, sink, clock, max_record_bytes=4000)
    await sweeper.sweep_until_caught_up()
    assert event_types(sink) == {"session.created": 1}  # the small session's
    stand_ins = [r for r in sink.on_topic("dlq") if r.oversized_from is not None]
    assert sorted(r.oversized_from for r in stand_ins) == ["events", "state"]
    for stand_in in stand_ins:
        body = orjson.loads(stand_in.value)
        assert body["key"] == "huge"
        assert body["bytes"] > 5000
        assert b"FEEDER_KAFKA__MAX_RECORD_BYTES" in dict(stand_in.headers)["feeder_error_reason"]
    assert sweeper.position.live == at(98)  # the feed moved on
