"""Heartbeats on the real broker: they keep coming on a quiet feed with advancing watermarks,
their watermarks hold against the simulator's ground truth under late commits and slow writer
clocks, and partition watermarks reach every partition of the events topic."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from feeder_devkit.simulator.ground_truth import Transition, Version
from feeder_devkit.simulator.server import run_simulator_in_thread
from jsonschema import Draft202012Validator

from feeder.core.timestamps import parse_timestamp
from feeder.runtime.feed import FeedApp
from feeder.settings import FeederSettings
from tests.e2e.harness import (
    busy_store,
    feed_expectations,
    feeder_settings,
    published_events,
    quiesce,
    running_feed,
    traffic_until,
    wait_until,
)
from tests.e2e.oracle import ON_TIME_MS, Expected
from tests.e2e.tally import judge
from tests.kafka_reading import ReadRecord, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(240)]

INTERVAL_S = 0.3


def heartbeats_published(app: FeedApp) -> float:
    return app.metrics.registry.get_sample_value("feeder_heartbeats_published_total") or 0.0


SCHEMAS = Path(__file__).parents[2] / "schemas"


def schema_problems(name: str, document: object) -> list[str]:
    schema = orjson.loads((SCHEMAS / f"{name}.schema.json").read_bytes())
    checker = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [error.message for error in checker.iter_errors(document)]


def documents(records: list[ReadRecord]) -> list[dict[str, object]]:
    """The heartbeats' values, each checked against the published schema."""
    beats = [orjson.loads(record.value) for record in records if record.value is not None]
    for beat in beats:
        assert schema_problems("heartbeat", beat) == []
    return beats


def millis(text: object) -> int:
    assert isinstance(text, str)
    return int(parse_timestamp(text).timestamp() * 1000)


async def beat_on_a_quiet_store(
    bootstrap: str,
    tmp_path: Path,
    *,
    seed: int,
    beats: int,
    heartbeat: dict[str, object],
    events: dict[str, object] | None = None,
    feed_name: str | None = None,
) -> FeederSettings:
    """Run a feed over a paused simulated store until it published ``beats`` heartbeats; the
    feed's settings."""
    with run_simulator_in_thread(busy_store(seed=seed)) as sim:
        sim.call(lambda s: s.pause())
        settings = feeder_settings(
            sim.base_url,
            sim.token,
            bootstrap,
            tmp_path / "cp.sqlite3",
            heartbeat=heartbeat,
            events=events,
            feed_name=feed_name,
        )
        async with running_feed(settings) as app:
            await wait_until(
                lambda: heartbeats_published(app) >= beats,
                timeout_s=60,
                what=f"{beats} heartbeats",
            )
    return settings


async def test_a_quiet_feed_keeps_beating_with_watermarks_that_advance(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = await beat_on_a_quiet_store(
        kafka_bootstrap,
        tmp_path,
        seed=31,
        beats=8,
        heartbeat={"interval_s": INTERVAL_S},
        feed_name="store-31",
    )
    records = await read_topic(kafka_bootstrap, settings.kafka.topics.heartbeat, at_least=8)
    assert {record.key for record in records} == {b"store-31"}
    assert {record.headers["content-type"] for record in records} == {b"application/json"}
    beats = documents(records)
    assert [beat["sequence"] for beat in beats] == list(range(1, len(beats) + 1))
    assert {beat["feed"] for beat in beats} == {"store-31"}
    marks = [millis(beat["watermark"]) for beat in beats]
    assert marks == sorted(marks)
    # nothing changes, and yet the watermark follows the clock: the feed is quiet, not stuck
    assert marks[-1] > marks[2] > marks[0]
    for beat in beats:
        assert millis(beat["watermark"]) <= millis(beat["time"])
        latenesses = [entry["latenessS"] for entry in beat["watermarks"]]  # type: ignore[attr-defined]
        assert latenesses == sorted(latenesses)
        assert latenesses[0] == 0.0
        assert latenesses[1:] == sorted(settings.sweep.all_reread_delays_s)


def held_versions(
    transitions: list[Transition], versions: dict[tuple[str, int], Version]
) -> dict[int, list[tuple[str, int]]]:
    """Per transition (by seq), the versions it held in (until the next one of its kind)."""
    groups: dict[tuple[str, str], list[Transition]] = defaultdict(list)
    for transition in sorted(transitions, key=lambda t: t.seq):
        groups[(transition.session_id, transition.kind)].append(transition)
    held: dict[int, list[tuple[str, int]]] = {}
    for (session_id, kind), group in groups.items():
        for index, transition in enumerate(group):
            following = group[index + 1] if index + 1 < len(group) else None
            until = None if following is None or kind == "created" else following.version
            number, keys = transition.version, []
            while (session_id, number) in versions and (until is None or number < until):
                keys.append((session_id, number))
                number += 1
            held[transition.seq] = keys
    return held


def version_lasted_until_ms(
    key: tuple[str, int], versions: dict[tuple[str, int], Version]
) -> int | None:
    following = versions.get((key[0], key[1] + 1))
    return None if following is None else following.visible_at_ms


async def test_every_version_under_a_heartbeats_watermark_was_published_before_it(
    kafka_bootstrap: str, tmp_path: Path, ground_truth_report: list[str]
) -> None:
    simulator = busy_store(
        seed=33,
        traffic={"writer_skews_ms": (0, -300)},
        late_visible_share=0.2,
        late_visible_delay_s=0.2,
        late_visible_delay_max_s=3.5,
    )
    with run_simulator_in_thread(simulator) as sim:
        settings = feeder_settings(
            sim.base_url,
            sim.token,
            kafka_bootstrap,
            tmp_path / "cp.sqlite3",
            heartbeat={"interval_s": INTERVAL_S},
        )
        async with running_feed(settings) as app:
            await traffic_until(sim, 400)
            await quiesce(sim, app)
        expect = feed_expectations(sim, settings)
        transitions = sim.call(lambda s: s.ground_truth())
        versions = sim.call(lambda s: s.versions())
    events = await published_events(kafka_bootstrap, settings.kafka.topics.events)
    result = judge(
        "feed",
        events,
        expect,
        min_required=250,  # of the 400 transitions it waits for
        max_excused_share=0.15,
    )
    ground_truth_report.append(result.line())
    beats = documents(await read_topic(kafka_bootstrap, settings.kafka.topics.heartbeat))
    assert len(beats) >= 10
    held = held_versions(transitions, versions)
    expected_by_seq: dict[int, Expected] = {x.transition.seq: x for x in expect.expected}
    first_published_ms: dict[str, int] = {}
    for event in events:
        first_published_ms.setdefault(event.id, event.record.timestamp_ms)
        first_published_ms[event.id] = min(first_published_ms[event.id], event.record.timestamp_ms)

    checked, late_checked, broken = 0, 0, []
    for beat in beats:
        beat_ms = millis(beat["time"])
        for entry in beat["watermarks"]:  # type: ignore[attr-defined]
            mark_ms, lateness_ms = millis(entry["watermark"]), entry["latenessS"] * 1000
            for seq, keys in held.items():
                x = expected_by_seq.get(seq)
                if x is None:
                    continue
                promised = [
                    key
                    for key in keys
                    if versions[key].updated_at_ms < mark_ms
                    and versions[key].visible_at_ms - versions[key].updated_at_ms <= lateness_ms
                    and (version_lasted_until_ms(key, versions) or beat_ms + 1) > beat_ms
                ]
                if not promised:
                    continue
                checked += 1
                late_checked += any(
                    versions[k].visible_at_ms - versions[k].updated_at_ms > ON_TIME_MS
                    for k in promised
                )
                sent = [first_published_ms[i] for i in x.ids if i in first_published_ms]
                if not sent or min(sent) > beat_ms:
                    broken.append((beat["sequence"], entry, x.transition))
    assert broken == [], f"{len(broken)} promised transitions were not published in time: " + str(
        broken[:3]
    )
    assert late_checked > 0, "no late version fell under a watermark: the test checked nothing late"
    ground_truth_report.append(
        f"{len(beats)} heartbeats; {checked} (heartbeat, lateness, transition) promises checked "
        f"against the topic, {late_checked} of them for versions over {ON_TIME_MS} ms late; "
        "none broken"
    )


async def test_partition_watermarks_reach_every_partition_of_the_events_topic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = await beat_on_a_quiet_store(
        kafka_bootstrap,
        tmp_path,
        seed=35,
        beats=3,
        heartbeat={"interval_s": INTERVAL_S, "partition_watermarks": True},
        events={"content_mode": "binary"},
    )
    records = await read_topic(kafka_bootstrap, settings.kafka.topics.events, at_least=6)
    watermarks = [r for r in records if r.headers.get("ce_type") == b"feeder.watermark"]
    assert {r.partition for r in watermarks} == set(range(settings.kafka.partitions))
    first = watermarks[0]
    assert first.headers["ce_specversion"] == b"1.0"
    assert first.headers["content-type"] == b"application/json"
    data = orjson.loads(first.value or b"null")
    assert schema_problems("heartbeat", data) == []
    assert parse_timestamp(data["watermark"]) <= parse_timestamp(data["time"])
