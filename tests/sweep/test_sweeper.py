"""The sweeper with in-memory parts and an injected clock: exact ticks, no sleeps.

Hot sessions, late writes caught by the right pass, the request budget shared live first,
skipping, merging, ties, restarts, failed deliveries, regressions, replays, bad records.
"""

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
from feeder.sweep.delivery import AtLeastOnceDelivery
from feeder.sweep.sweeper import SweepConfig, Sweeper
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
    reread_delays_s: tuple[float, ...] = (),
    max_record_bytes: int = 1_000_000,
    feed_start: float = 0,
) -> tuple[Sweeper, CountingObserver]:
    observer = CountingObserver()
    config = SweepConfig(
        page_size=page_size,
        poll_interval_s=1.0,
        reread_delays_s=reread_delays_s,
        max_record_bytes=max_record_bytes,
        encoding=EventEncoding(source="urn:test"),
        topics=TOPICS,
    )
    sweeper = Sweeper(
        source=api,
        delivery=AtLeastOnceDelivery(sink, store, clock),
        store=store,
        config=config,
        position=await Sweeper.resume_position(store, at(feed_start), reread_delays_s),
        clock=clock,
        observer=observer,
        stopping=asyncio.Event(),
    )
    return sweeper, observer


def parts(
    now: float = 100,
) -> tuple[ListedSessions, MemoryCheckpointStore, MemorySink, SettableClock]:
    clock = SettableClock(at(now))
    return ListedSessions(clock=clock), MemoryCheckpointStore(), MemorySink(), clock


async def tick(sweeper: Sweeper, clock: SettableClock, seconds: float = 1.0) -> None:
    """The next poll tick: the clock moves on, then the sweeper gets one poll interval."""
    clock.advance(seconds)
    await sweeper.run_tick(budget_s=1.0)


def event_ids(sink: MemorySink) -> list[str]:
    return [str(orjson.loads(r.value)["id"]) for r in sink.on_topic("events")]


def event_types(sink: MemorySink) -> Counter[str]:
    return Counter(str(orjson.loads(r.value)["type"]) for r in sink.on_topic("events"))


async def test_ties_across_page_boundaries_are_each_delivered_once() -> None:
    api, store, sink, clock = parts()
    for number in range(7):
        api.put(record(f"s{number}", created=5, updated=10))
    sweeper, _ = await make_sweeper(api, store, sink, clock, page_size=2)
    await sweeper.run_tick()
    assert event_types(sink) == {"session.created": 7}
    assert len(api.queries) == 4  # 2 + 2 + 2 + 1
    assert api.queries[0].max_updated_at is None  # the live read goes to the newest record
    assert sweeper.position.live == at(10.001)  # just past the tie: not read again each tick
    await sweeper.run_tick()
    assert event_types(sink) == {"session.created": 7}
    assert len(api.queries) == 5


async def test_a_session_that_changes_every_tick_is_read_every_tick() -> None:
    """No settle cap: its entry and its fraud flag are published while it keeps changing."""
    api, store, sink, clock = parts()
    sweeper, _ = await make_sweeper(api, store, sink, clock, reread_delays_s=(1, 4))
    entered = flagged = None
    for step in range(1, 31):  # a change every 500 ms for 30 s, polled every second
        clock.advance(0.5)
        now = (clock.now - at(0)).total_seconds()
        entered = now if step == 8 else entered
        flagged = now if step == 20 else flagged
        api.put(
            record(
                "hot",
                created=100,
                updated=now,
                entered=entered,
                fraud=flagged is not None,
                visitors=step,
            )
        )
        if step % 2 == 0:
            await sweeper.run_tick(budget_s=1.0)
            published = event_types(sink)
            if step == 8:
                assert published["session.entered"] == 1
            if step == 20:
                assert published["session.suspected_fraud_changed"] == 1
    fraud = [orjson.loads(r.value) for r in sink.on_topic("fraud")]
    assert [event["time"] for event in fraud] == [
        "2026-11-01T12:01:50.000Z"
    ]  # the flip's own stamp


async def test_a_late_write_is_caught_by_the_first_pass_whose_delay_exceeds_its_lateness() -> None:
    api, store, sink, clock = parts()
    api.put(record("early", created=1, updated=99))
    sweeper, observer = await make_sweeper(
        api, store, sink, clock, reread_delays_s=(1, 4, 8, 12, 60)
    )
    await sweeper.run_tick()
    api.put(record("other", created=100, updated=100.8))
    for _ in range(6):
        await tick(sweeper, clock)  # 101 .. 106: the live cursor stays at 100.8
    # A write stamped 100.5 that became visible only now, 5.5 s late: the live pass and the
    # 1 s and 4 s passes have passed it; the 8 s pass reads [100, 100.8] at 109.
    api.put(record("late", created=100, updated=100.5, entered=100.5))
    await tick(sweeper, clock)
    await tick(sweeper, clock)
    assert observer.found_by("late") == []
    await tick(sweeper, clock)
    assert observer.found_by("late") == [("reread_8s", at(109))]
    assert event_types(sink)["session.entered"] == 1


async def test_the_live_read_is_never_cut_short_and_re_reads_use_what_is_left() -> None:
    api, store, sink, clock = parts()
    api.seconds_per_request = 0.3  # each request takes 0.3 s of the 1 s tick
    sweeper, observer = await make_sweeper(
        api, store, sink, clock, page_size=2, reread_delays_s=(1, 2, 3, 4)
    )
    for number in range(4):
        api.put(record(f"q{number}", created=95, updated=95 + number))  # due to be re-read
    await sweeper.run_tick()
    for number in range(10):  # a burst: five live pages (1.5 s)
        api.put(record(f"s{number}", created=100, updated=100.5))
    queries_before = len(api.queries)
    await tick(sweeper, clock)
    live = [q for q in api.queries[queries_before:] if q.max_updated_at is None]
    assert len(live) == 5  # every live page, though the tick's second ran out
    assert len(api.queries) - queries_before == 5  # and no re-read page after it
    assert event_types(sink)["session.created"] == 14
    report = observer.reports[-1]
    assert report.deferred  # no time was left for the re-reads that were due
    assert max(report.behind_s.values()) > 0


async def test_a_lagging_pass_skips_what_the_next_pass_will_read() -> None:
    api, store, sink, clock = parts()
    sweeper, observer = await make_sweeper(api, store, sink, clock, reread_delays_s=(1, 4, 60))
    await sweeper.run_tick()
    sweeper.position = replace(
        sweeper.position, live=at(99), rereads=((1.0, at(50)), (4.0, at(50)), (60.0, at(30)))
    )
    api.put(record("s", created=100, updated=100))
    await tick(sweeper, clock)  # clock 101
    report = observer.reports[-1]
    assert report.skipped_s == {"reread_1s": 47.0}  # up to 101 - 4: left to the 4 s pass


async def test_an_idle_feed_makes_one_request_per_tick() -> None:
    api, store, sink, clock = parts()
    api.put(record("s", created=1, updated=10))
    sweeper, _ = await make_sweeper(
        api, store, sink, clock, reread_delays_s=(1, 4, 8, 12, 16, 20, 24, 28, 32, 60, 300)
    )
    for _ in range(400):  # past the lookback: every pass has re-read everything
        await tick(sweeper, clock)
    before = len(api.queries)
    for _ in range(30):
        await tick(sweeper, clock)
    assert len(api.queries) - before == 30


async def test_sparse_traffic_re_reads_many_windows_in_one_request() -> None:
    api, store, sink, clock = parts()
    sweeper, _ = await make_sweeper(
        api, store, sink, clock, page_size=200, reread_delays_s=(1, 4, 8, 12, 16, 20, 24, 28, 32)
    )
    for second in range(60):  # one change a second
        api.put(record(f"s{second}", created=100 + second, updated=100 + second + 0.5))
        await tick(sweeper, clock)
    before = len(api.queries)
    await tick(sweeper, clock)
    queries = api.queries[before:]
    assert [q.max_updated_at is None for q in queries] == [True, False]  # live + one re-read
    assert event_types(sink)["session.created"] == 60


async def test_a_catch_up_read_counts_as_a_re_read_of_what_it_found_old_enough() -> None:
    api, store, sink, clock = parts(now=10_000)
    for number in range(5):
        api.put(record(f"s{number}", created=0, updated=number * 100))
    sweeper, _ = await make_sweeper(api, store, sink, clock, reread_delays_s=(4, 300))
    await sweeper.run_tick()  # one read from the feed start: every record is over 300 s old
    assert sweeper.position.live == at(400.001)
    assert sweeper.position.rereads == ((4.0, at(9996)), (300.0, at(9700)))
    before = len(api.queries)
    await tick(sweeper, clock)
    assert len(api.queries) - before == 1  # nothing left to re-read


async def test_restart_resumes_from_the_checkpoint() -> None:
    api, store, clock = ListedSessions(), MemoryCheckpointStore(), SettableClock(at(100))
    api.put(record("a", created=5, updated=10, entered=10))
    first_sink = MemorySink()
    first, _ = await make_sweeper(api, store, first_sink, clock, reread_delays_s=(4,))
    await first.run_tick()
    api.put(record("a", created=5, updated=150, entered=10, exited=150))
    clock.advance(100)
    second_sink = MemorySink()
    second, _ = await make_sweeper(api, store, second_sink, clock, reread_delays_s=(4,))
    assert second.position == first.position
    await second.run_tick()
    assert event_types(first_sink) == {"session.created": 1, "session.entered": 1}
    assert event_types(second_sink) == {"session.exited": 1}
    assert api.queries[-1].min_updated_at == at(10.001)  # the live read resumed at its cursor
    # ... and found `a` 50 s old: no re-read of it was needed any more
    assert second.position.rereads == ((4.0, at(196)),)


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
    await reference.run_tick()

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
        await crashing.run_tick()
    sink.publish = original_publish  # type: ignore[method-assign]
    restarted, _ = await make_sweeper(api, store, sink, clock)
    await restarted.run_tick()

    assert set(event_ids(sink)) == set(event_ids(reference_sink))
    assert len(event_ids(sink)) > len(set(event_ids(sink)))  # some were re-sent...
    assert Counter(event_ids(sink)).most_common(1)[0][1] == 2  # ...at most once more


async def test_a_version_with_an_older_stamp_is_found_by_a_re_read_and_applied() -> None:
    api, store, sink, clock = parts()
    api.put(record("s", created=90, updated=100, entered=99))
    sweeper, observer = await make_sweeper(api, store, sink, clock, reread_delays_s=(1, 4))
    await sweeper.run_tick()
    # a second writer whose clock is 2 s slow records the exit: the row now carries 98.5
    api.put(record("s", created=90, updated=98.5, entered=99, exited=98.5))
    for _ in range(3):
        await tick(sweeper, clock)
    assert event_types(sink) == {"session.created": 1, "session.entered": 1, "session.exited": 1}
    [(sweep, _)] = observer.found_by("s")[1:]
    assert sweep.startswith("reread_")  # the live cursor had passed 98.5
    assert sum(plan.regressed for _, plan, _ in observer.pages) == 1


async def test_a_replayed_old_version_publishes_nothing() -> None:
    api, store, sink, clock = parts()
    sweeper, observer = await make_sweeper(api, store, sink, clock, reread_delays_s=(1, 8))
    await sweeper.run_tick()
    flagged = record("s", created=100, updated=100.2, fraud=True)
    api.put(flagged)
    await tick(sweeper, clock)
    api.put(record("s", created=100, updated=100.6, fraud=False))
    await tick(sweeper, clock)
    api.put(flagged)  # a lagging replica serves the flagged version again
    for _ in range(8):  # the 8 s pass re-reads 100.2 at 109
        await tick(sweeper, clock)
    assert sum(len(plan.replayed) for _, plan, _ in observer.pages) == 1
    assert event_types(sink)["session.suspected_fraud_changed"] == 2  # up, down; not up again


async def test_malformed_records_are_dead_lettered_whole_and_the_sweep_goes_on() -> None:
    api, store, sink, clock = parts()
    bad = record("bad", created=1, updated=5)
    bad["customerLastEnteredAt"] = "not a date"
    api.put(bad)
    api.put(record("good", created=1, updated=6))
    sweeper, _ = await make_sweeper(api, store, sink, clock)
    await sweeper.run_tick()
    [letter] = sink.on_topic("dlq")
    assert orjson.loads(letter.value) == bad
    assert dict(letter.headers)["feeder_error_field"] == b"customerLastEnteredAt"
    assert event_types(sink) == {"session.created": 1}


async def test_out_of_order_pages_are_counted() -> None:
    api, store, sink, clock = parts()
    api.reverse_pages = True
    for number in range(4):
        api.put(record(f"s{number}", created=1, updated=number + 1))
    sweeper, observer = await make_sweeper(api, store, sink, clock)
    await sweeper.run_tick()
    # pages [s1, s0] and [s3, s2]: one violation inside each
    assert sum(plan.order_violations for _, plan, _ in observer.pages) == 2


async def test_a_cursor_that_does_not_move_is_refused() -> None:
    class StuckApi(ListedSessions):
        async def fetch_page(self, query):  # type: ignore[no-untyped-def]
            page = await super().fetch_page(replace(query, after=None))
            return type(page)(page.sessions, "stuck", 0.0)

    api, clock = StuckApi(), SettableClock(at(100))
    for number in range(3):
        api.put(record(f"s{number}", created=1, updated=2))
    sweeper, _ = await make_sweeper(api, MemoryCheckpointStore(), MemorySink(), clock)
    with pytest.raises(ApiUnavailableError, match="cursor"):
        await sweeper.run_tick()


async def test_feed_start_now_does_not_replay_history() -> None:
    api, store, sink, clock = parts()
    api.put(record("old", created=1, updated=95, entered=20, fraud=True))
    sweeper, _ = await make_sweeper(api, store, sink, clock, feed_start=90, reread_delays_s=(4,))
    assert sweeper.position == FeedPosition(at(90), at(90), ((4.0, at(90)),))
    await sweeper.run_tick()
    assert event_types(sink) == {"session.suspected_fraud_changed": 1}


async def test_a_record_too_large_for_kafka_is_dead_lettered_as_a_stand_in() -> None:
    api, store, sink, clock = parts()
    api.put(record("huge", created=1, updated=5, metadata={"blob": "x" * 5000}))
    api.put(record("small", created=1, updated=6))
    sweeper, _ = await make_sweeper(api, store, sink, clock, max_record_bytes=4000)
    await sweeper.run_tick()
    assert event_types(sink) == {"session.created": 1}  # the small session's
    stand_ins = [r for r in sink.on_topic("dlq") if r.oversized_from is not None]
    assert sorted(r.oversized_from for r in stand_ins) == ["events", "state"]
    for stand_in in stand_ins:
        body = orjson.loads(stand_in.value)
        assert body["key"] == "huge"
        assert body["bytes"] > 5000
        assert b"FEEDER_KAFKA__MAX_RECORD_BYTES" in dict(stand_in.headers)["feeder_error_reason"]
    assert sweeper.position.live == at(6.001)  # the feed moved on


def states_asked(store: MemoryCheckpointStore) -> list[set[str]]:
    """Records the session ids of every ``load_states`` call on ``store`` from now on."""
    asked: list[set[str]] = []
    load_states = store.load_states

    async def recording(session_ids):  # type: ignore[no-untyped-def]
        asked.append(set(session_ids))
        return await load_states(session_ids)

    store.load_states = recording  # type: ignore[method-assign]
    return asked


async def test_re_reads_of_unchanged_sessions_load_no_state_and_publish_nothing() -> None:
    api, store, sink, clock = parts()
    sweeper, observer = await make_sweeper(api, store, sink, clock, reread_delays_s=(1, 4))
    asked = states_asked(store)
    api.put(record("a", created=100, updated=100.2, entered=100.2))
    api.put(record("b", created=100, updated=100.4))
    await tick(sweeper, clock)
    assert asked == [{"a", "b"}]  # first sight: validated, states looked up
    api.put(record("b", created=100, updated=100.9, fraud=True))
    for _ in range(5):  # both passes re-read [100, 101]
        await tick(sweeper, clock)
    assert set().union(*asked[1:]) == {"b"}  # only the changed session's state was needed
    assert sum(plan.duplicates for _, plan, _ in observer.pages) >= 4
    assert event_types(sink) == {
        "session.created": 2,
        "session.entered": 1,
        "session.suspected_fraud_changed": 1,
    }


async def test_a_delivery_that_failed_after_committing_is_not_trusted_by_the_re_reads() -> None:
    """A delivery can fail after its commit took (an EndTxn whose answer was lost): what the
    re-reads knew of its sessions may be stale, so they judge them the long way again."""
    api, store, sink, clock = parts()
    sweeper, observer = await make_sweeper(api, store, sink, clock, reread_delays_s=(1, 8))
    flagged = record("s", created=100, updated=100.2, fraud=True)
    api.put(flagged)
    await tick(sweeper, clock)
    deliver = sweeper._delivery.deliver

    async def commit_then_fail(*args):  # type: ignore[no-untyped-def]
        await deliver(*args)
        raise SinkUnavailableError("the commit's answer was lost")

    sweeper._delivery.deliver = commit_then_fail  # type: ignore[method-assign]
    api.put(record("s", created=100, updated=100.6, fraud=False))
    with pytest.raises(SinkUnavailableError):
        await tick(sweeper, clock)
    sweeper._delivery.deliver = deliver  # type: ignore[method-assign]
    api.put(flagged)  # a lagging replica serves the flagged version again
    for _ in range(8):
        await tick(sweeper, clock)
    # the failed tick moved no cursor: both passes read 100.2 again, and each finds a replay
    assert sum(len(plan.replayed) for _, plan, _ in observer.pages) == 2
    assert event_types(sink)["session.suspected_fraud_changed"] == 2  # up, down; not up again
