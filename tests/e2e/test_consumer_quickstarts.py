"""The consumer quickstarts in examples/ run against the simulator + feeder + a real broker, and
what they print matches the simulator's ground truth."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sys
import uuid
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from feeder_devkit.simulator.server import run_simulator_in_thread

from feeder.core.timestamps import parse_timestamp
from tests.e2e.harness import (
    busy_store,
    feed_expectations,
    feeder_settings,
    published_events,
    quiesce,
    running_feed,
    traffic_until,
)
from tests.e2e.tally import judge
from tests.java_examples import EXAMPLES, built_jar
from tests.kafka_reading import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(120)]
logger = logging.getLogger(__name__)

FRAUD_ALERTS = EXAMPLES / "python-fraud-alerts" / "fraud_alerts.py"
FRAUD = "session.suspected_fraud_changed"
ALERT = re.compile(r"^ALERT (flagged|cleared) session=(\S+) store=(\S+) at=(\S+) event=(\S+)$")


async def run(
    *command: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout_s: float
) -> str:
    """``command``'s standard output; fails with its output if it exits non-zero."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    finally:
        if process.returncode is None:  # timed out or cancelled: never leave it running
            process.kill()
            await process.wait()
    out, err = stdout.decode(), stderr.decode()
    assert process.returncode == 0, f"{command[0]} exited {process.returncode}:\n{out}\n{err}"
    logger.info("%s printed:\n%s", " ".join(command[:3]), out)
    return out


async def build_java_example() -> Path:
    """The event-counts quickstart's jar (:mod:`tests.java_examples`), built in a thread."""
    return await asyncio.to_thread(built_jar, "java-event-counts", "event-counts.jar")


async def resend(bootstrap: str, topic: str) -> str:
    """Re-send the first record of ``topic`` as it is (a crash-and-resend); its event id."""
    [first, *_] = await read_topic(bootstrap, topic, at_least=1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, first.value, key=first.key, headers=list(first.headers.items())
        )
    finally:
        await producer.stop()
    assert first.value is not None
    return str(orjson.loads(first.value)["id"])  # structured mode: the event is the value


def alerts_in(printed: str) -> list[tuple[str, ...]]:
    """(flagged|cleared, session, store, at, event id) of each alert line."""
    return [match.groups() for match in map(ALERT.match, printed.splitlines()) if match]


def fraud_change(event_id: str, session_id: str, new: bool) -> dict[str, object]:
    return {
        "id": event_id,
        "type": FRAUD,
        "subject": session_id,
        "time": "2026-11-01T12:00:00.000Z",
        "data": {"sessionId": session_id, "changed": {"suspectedFraud": {"old": None, "new": new}}},
    }


async def both_content_modes(bootstrap: str, topic: str) -> None:
    """A binary-mode event (``ce_*`` headers, the value is ``data``) and a structured one with
    no ``ce_*`` header at all, as the CloudEvents Kafka binding allows either."""
    binary = fraud_change("id-binary", "7", new=True)
    structured = {"specversion": "1.0", **fraud_change("id-structured", "8", new=False)}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic,
            orjson.dumps(binary.pop("data")),
            key=b"7",
            headers=[("ce_specversion", b"1.0"), ("content-type", b"application/json")]
            + [(f"ce_{name}", str(value).encode()) for name, value in binary.items()],
        )
        await producer.send_and_wait(
            topic,
            orjson.dumps(structured),
            key=b"8",
            headers=[("content-type", b"application/cloudevents+json; charset=UTF-8")],
        )
    finally:
        await producer.stop()


async def test_the_quickstarts_print_what_the_simulator_did(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    maven = asyncio.create_task(build_java_example())  # builds while the feed runs
    try:
        with run_simulator_in_thread(busy_store(seed=17)) as sim:
            settings = feeder_settings(
                sim.base_url, sim.token, kafka_bootstrap, tmp_path / "cp.sqlite3"
            )
            async with running_feed(settings) as app:
                await traffic_until(sim, 300)  # the traffic model runs while the feed sweeps
                await quiesce(sim, app)
            expect = feed_expectations(sim, settings)
        jar = await maven
    finally:
        maven.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await maven
    topics = settings.kafka.topics
    events = await published_events(kafka_bootstrap, topics.events)
    distinct_per_type = judge(
        "quickstarts' feed",
        events,
        expect,
        min_required=200,  # of the 300 transitions it waits for
        max_excused_share=0.2,
    ).by_type
    fraud = {event.id: event for event in events if event.type == FRAUD}
    assert fraud, "no fraud flips happened"
    duplicated = await resend(kafka_bootstrap, topics.fraud)
    assert duplicated in fraud

    # Python: one alert per fraud change, the re-sent one skipped; a second run has nothing left
    group = f"alerts-{uuid.uuid4().hex[:8]}"
    alerts_command = (
        sys.executable, str(FRAUD_ALERTS), "--exit-at-end", "--group-id", group,
        "--bootstrap-servers", kafka_bootstrap, "--topic", topics.fraud,
    )  # fmt: skip
    printed = await run(*alerts_command, timeout_s=120)
    alerts = alerts_in(printed)
    assert {
        event_id: (what, sid, parse_timestamp(at)) for what, sid, _, at, event_id in alerts
    } == {
        event.id: ("flagged" if event.new else "cleared", event.session_id, event.time)
        for event in fraud.values()
    }
    assert len(alerts) == len(fraud), "each change alerted once"
    flagged = sum(1 for event in fraud.values() if event.new)
    assert printed.splitlines()[-1] == (
        f"handled {flagged} flagged and {len(fraud) - flagged} cleared; "
        "skipped 1 duplicates and 0 other types"
    )
    again = await run(*alerts_command, timeout_s=120)
    assert again.splitlines() == [
        "handled 0 flagged and 0 cleared; skipped 0 duplicates and 0 other types"
    ], "the first run committed what it handled"

    # Java: records and distinct events per ce_type on the events topic
    counts = await run(
        "java", "-jar", str(jar),
        env={"BOOTSTRAP_SERVERS": kafka_bootstrap, "TOPIC": topics.events},
        timeout_s=120,
    )  # fmt: skip
    rows = [line.split("\t") for line in counts.splitlines() if not line.startswith("#")]
    table = {name: (int(records), int(distinct)) for name, records, distinct in rows}
    records_per_type = Counter(event.type for event in events)
    assert table == {
        **{t: (records_per_type[t], distinct_per_type[t]) for t in distinct_per_type},
        "total": (len(events), sum(distinct_per_type.values())),
    }

    # Both, on events in either content mode (what issue 17's content-mode setting produces)
    modes = f"modes-{uuid.uuid4().hex[:8]}"
    await both_content_modes(kafka_bootstrap, modes)
    printed = await run(
        sys.executable, str(FRAUD_ALERTS), "--exit-at-end", "--group-id", modes,
        "--bootstrap-servers", kafka_bootstrap, "--topic", modes,
        timeout_s=120,
    )  # fmt: skip
    assert alerts_in(printed) == [
        ("flagged", "7", "-", "2026-11-01T12:00:00.000Z", "id-binary"),
        ("cleared", "8", "-", "2026-11-01T12:00:00.000Z", "id-structured"),
    ]
    counts = await run(
        "java", "-jar", str(jar), env={"BOOTSTRAP_SERVERS": kafka_bootstrap, "TOPIC": modes},
        timeout_s=120,
    )  # fmt: skip
    assert counts.splitlines()[1:] == [f"{FRAUD}\t2\t2", "total\t2\t2"]
