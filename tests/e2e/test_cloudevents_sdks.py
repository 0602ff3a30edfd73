"""The CloudEvents SDKs consumers use decode every event a real feed and a real backfill wrote.

Both content modes, on the real broker: the Python SDK 2.x's auto-detecting Kafka reader
(``cloudevents.core.bindings.kafka.from_kafka``) and the Java SDK's ``CloudEventDeserializer`` on
Apache Kafka's Java consumer (``examples/java-cloudevents``). What they decode is checked against
what the feeder meant: the simulator's ground truth and sessions, the settings, and the window.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat
from feeder_devkit.simulator.ground_truth import EVENT_TYPE_OF_KIND, Transition
from feeder_devkit.simulator.server import ThreadedSimulator, run_simulator_in_thread

from feeder.commands.backfill import BackfillProgress
from feeder.core.records import STRUCTURED_CONTENT_TYPE
from feeder.core.timestamps import format_timestamp
from feeder.runtime.backfill import run_backfill
from tests.e2e.harness import (
    PublishedEvent,
    busy_store,
    feed_expectations,
    feeder_settings,
    now,
    quiesce,
    running_feed,
    wait_until,
)
from tests.e2e.java_cloudevents import build_decoder, decode_with_java
from tests.e2e.tally import judge
from tests.kafka_reading import ReadRecord, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(120)]
logger = logging.getLogger(__name__)

BINARY_HEADERS = {
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "ce_subject",
    "ce_storeid",
    "ce_origin",
    "content-type",
}


@pytest.fixture(scope="module")
def java_decoder() -> Path:
    return build_decoder()


@dataclass(frozen=True, slots=True)
class Decoded:
    """The attributes an SDK decoded from one record, in comparable form."""

    id: str
    type: str
    source: str
    subject: str
    time: datetime
    storeid: str | None
    origin: str | None
    backfillwindow: str | None
    data_session_id: str | None


def decode_with_python(record: ReadRecord) -> tuple[Decoded, PublishedEvent]:
    assert record.value is not None
    event = from_kafka(KafkaMessage(record.headers, record.key, record.value), JSONFormat())
    data: Any = event.get_data()
    assert isinstance(data, dict), data
    time = event.get_time()
    assert time is not None
    assert event.get_specversion() == "1.0"
    assert event.get_datacontenttype() == "application/json"
    [change] = data["changed"].values()
    decoded = Decoded(
        id=event.get_id(),
        type=event.get_type(),
        source=event.get_source(),
        subject=str(event.get_subject()),
        time=time,
        storeid=event.get_extension("storeid"),
        origin=event.get_extension("origin"),
        backfillwindow=event.get_extension("backfillwindow"),
        data_session_id=data["sessionId"],
    )
    published = PublishedEvent(
        decoded.id, decoded.type, decoded.subject, time, change["new"], record
    )
    return decoded, published


def decoded_by_java(line: dict[str, Any]) -> Decoded:
    assert "error" not in line, line
    extensions = line["extensions"]
    return Decoded(
        id=line["id"],
        type=line["type"],
        source=line["source"],
        subject=line["subject"],
        time=datetime.fromisoformat(line["time"]),
        storeid=extensions.get("storeid"),
        origin=extensions.get("origin"),
        backfillwindow=extensions.get("backfillwindow"),
        data_session_id=line["dataSessionId"],
    )


def enough_traffic(sim: ThreadedSimulator) -> bool:
    transitions = sim.call(lambda s: s.ground_truth())
    flips = sum(t.kind == "suspected_fraud_changed" for t in transitions)
    return len(transitions) >= 200 and flips >= 4


def ids_of_the_same_transitions(
    live: list[PublishedEvent], backfill: list[PublishedEvent], transitions: list[Transition]
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]], list[tuple[object, int]]]:
    """Transitions (session, type, own time or new value) both published; those with the same
    id; and those without, with how many times the field took that value."""

    def by_transition(events: list[PublishedEvent]) -> dict[tuple[str, str, str], set[str]]:
        found: dict[tuple[str, str, str], set[str]] = {}
        for event in events:
            toggle = event.type.endswith(("fraud_changed", "status_changed"))
            what = repr(event.new) if toggle else event.time.isoformat()
            found.setdefault((event.session_id, event.type, what), set()).add(event.id)
        return found

    taken = Counter(
        (t.session_id, EVENT_TYPE_OF_KIND[t.kind], repr(t.new))
        for t in transitions
        if t.kind in ("suspected_fraud_changed", "status_changed")
    )
    live_ids, backfill_ids = by_transition(live), by_transition(backfill)
    both = [key for key in backfill_ids if key in live_ids]
    matched = [key for key in both if backfill_ids[key] & live_ids[key]]
    differ = [(key, taken[key]) for key in both if key not in matched]
    return both, matched, differ


def assert_ids_agree(
    live: list[PublishedEvent], backfill: list[PublishedEvent], transitions: list[Transition]
) -> str:
    """Every transition both published has one id on both sides unless its field took the
    value more than once; returns what was compared."""
    assert backfill
    both, matched, differ = ids_of_the_same_transitions(live, backfill, transitions)
    assert len(both) > 100
    assert [key for key, taken in differ if taken <= 1] == []
    return (
        f"{len(both)} transitions published by the live feed and the backfill, {len(matched)} "
        f"with the same id, {len(differ)} numbered differently (a field that took the value "
        "more than once)"
    )


def sort_key(decoded: Decoded) -> tuple[str, str, str]:
    return decoded.id, decoded.subject, decoded.time.isoformat()


@pytest.mark.parametrize(
    ("content_mode", "key_strategy"), [("structured", "session"), ("binary", "store")]
)
async def test_every_event_of_a_live_feed_and_a_backfill_decodes_with_both_sdks(  # noqa: PLR0917 - pytest passes fixtures as parameters
    content_mode: str,
    key_strategy: str,
    kafka_bootstrap: str,
    tmp_path: Path,
    java_decoder: Path,
    ground_truth_report: list[str],
) -> None:
    report = ground_truth_report
    events = {"content_mode": content_mode, "key_strategy": key_strategy}
    began = now() - timedelta(seconds=1)
    with run_simulator_in_thread(busy_store(seed=23)) as sim:
        live = feeder_settings(
            sim.base_url, sim.token, kafka_bootstrap, tmp_path / "cp.sqlite3", events=events
        )
        async with running_feed(live) as app:
            await wait_until(  # the traffic model runs while the feed sweeps
                lambda: enough_traffic(sim), timeout_s=60, what="200 transitions, 4 fraud flips"
            )
            await quiesce(sim, app)
            paused_at = now()
        expect = feed_expectations(sim, live)
        # The same window replayed by a backfill, onto topics of its own.
        replay = feeder_settings(
            sim.base_url, sim.token, kafka_bootstrap, tmp_path / "unused.sqlite3", events=events
        )
        await run_backfill(
            replay,
            start=began,
            end=paused_at,
            state_path=tmp_path / "backfill.sqlite3",
            observer=BackfillProgress(began, paused_at, io.StringIO()),
            slices=4,  # swept at once: the sliced backfill must publish what a single one would
            concurrency=3,
        )
        transitions: list[Transition] = sim.call(lambda s: s.ground_truth())
        sessions = {t.session_id for t in transitions}
        stores = {
            sid: str(sim.call(lambda s, sid=sid: s.session(sid))["storeId"]) for sid in sessions
        }

    window = f"{format_timestamp(began)}/{format_timestamp(paused_at)}"
    origins = {
        live.kafka.topics.events: ("live", None),
        live.kafka.topics.fraud: ("live", None),
        replay.kafka.topics.events: ("backfill", window),
        replay.kafka.topics.fraud: ("backfill", window),
    }
    by_python: dict[str, list[Decoded]] = {}
    published: dict[str, list[PublishedEvent]] = {}
    for topic, (origin, backfillwindow) in origins.items():
        by_python[topic], published[topic] = [], []
        for record in await read_topic(kafka_bootstrap, topic):
            if content_mode == "structured":
                assert record.headers == {"content-type": STRUCTURED_CONTENT_TYPE.encode()}
            else:
                assert set(record.headers) == BINARY_HEADERS | (
                    {"ce_backfillwindow"} if backfillwindow else set()
                )
            decoded, event = decode_with_python(record)
            assert decoded.type in EVENT_TYPE_OF_KIND.values()
            assert decoded.source == live.events.source
            assert decoded.data_session_id == decoded.subject
            assert decoded.storeid == stores[decoded.subject]
            assert (decoded.origin, decoded.backfillwindow) == (origin, backfillwindow)
            key = decoded.storeid if key_strategy == "store" else decoded.subject
            assert record.key == str(key).encode()
            by_python[topic].append(decoded)
            published[topic].append(event)

    # What the SDK read is what happened: every observable transition once, nothing invented.
    result = judge(
        f"{content_mode} live feed, read by the Python SDK",
        published[live.kafka.topics.events],
        expect,
        min_required=150,  # of the 200 transitions it waits for
        max_excused_share=0.2,
    )
    report.append(result.line())
    assert result.by_type["session.suspected_fraud_changed"] > 0
    # The backfill sees each session once, at its latest version: what it publishes is a
    # subset, and a transition both published has the same id on both sides whenever the
    # field took that value only once (a toggle's number can differ only after several flips).
    report.append(
        f"{content_mode}: "
        + assert_ids_agree(
            published[live.kafka.topics.events], published[replay.kafka.topics.events], transitions
        )
    )
    for fraud_topic, events_topic in [
        (live.kafka.topics.fraud, live.kafka.topics.events),
        (replay.kafka.topics.fraud, replay.kafka.topics.events),
    ]:
        fraud_ids = {d.id for d in by_python[events_topic] if d.type.endswith("fraud_changed")}
        assert {d.id for d in by_python[fraud_topic]} == fraud_ids
    assert by_python[live.kafka.topics.fraud]

    java = decode_with_java(java_decoder, kafka_bootstrap, list(origins))
    total = sum(len(decoded) for decoded in by_python.values())
    logger.info(
        "%s mode: Python SDK decoded %d of %d records, Java SDK %d of %d (%s)",
        content_mode,
        total,
        total,
        java.decoded,
        java.records,
        {topic: len(decoded) for topic, decoded in by_python.items()},
    )
    assert (java.decoded, java.records) == (total, total)
    for topic, decoded in by_python.items():
        from_java = [decoded_by_java(line) for line in java.lines if line["topic"] == topic]
        assert sorted(from_java, key=sort_key) == sorted(decoded, key=sort_key), topic
