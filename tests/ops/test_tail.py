"""`feeder tail` against a real broker: filters, formats, a live start, Ctrl-C."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from feeder.commands.tail import TailOptions, tail
from feeder.commands.tailed_records import TailFilter, TopicKind
from feeder.core.encoding import ContentMode, EventEncoding, KeyStrategy
from feeder.core.page_plan import parse_page, plan_page
from feeder.core.records import TopicNames, page_records
from feeder.core.timestamps import format_timestamp
from feeder.errors import ConfigError
from feeder.schemas.generate import example_session_record
from feeder.settings import KafkaSettings, TopicSettings
from feeder.sink import KafkaSink

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def stamp(seconds: float) -> str:
    return format_timestamp(T0 + timedelta(seconds=seconds))


def kafka_settings(bootstrap: str) -> KafkaSettings:
    """Fresh topics with one partition each, so records come back in production order."""
    suffix = uuid.uuid4().hex[:8]
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        partitions=1,
        send_timeout_s=20,
        topics=TopicSettings(
            events=f"ev-{suffix}",
            fraud=f"fr-{suffix}",
            state=f"st-{suffix}",
            dead_letter=f"dl-{suffix}",
        ),
    )


STRUCTURED = EventEncoding(source="urn:test")
BINARY_BY_STORE = replace(
    STRUCTURED, content_mode=ContentMode.BINARY, key_strategy=KeyStrategy.STORE
)


async def publish_page(
    settings: KafkaSettings, records: list[object], encoding: EventEncoding = STRUCTURED
) -> None:
    """Run a page of API records through the core and publish everything it produces."""
    plan = plan_page(
        parse_page(records),
        {},
        feed_start=T0,
        now=T0 + timedelta(hours=1),
        previous_updated_at=None,
    )
    topics = settings.topics
    names = TopicNames(topics.events, topics.fraud, topics.state, topics.dead_letter)
    sink = await KafkaSink.open(settings)
    try:
        await sink.publish(page_records(plan, encoding=encoding, topics=names, received_at=T0))
    finally:
        await sink.aclose()


def visit(session_id: str, store_id: int, *, fraud: bool = False) -> dict[str, object]:
    """First sight of a session: created and entered, and flagged if ``fraud``."""
    return example_session_record(
        id=session_id,
        storeId=store_id,
        updatedAt=stamp(40),
        customerLastEnteredAt=stamp(30),
        suspectedFraud=fraud,
    )


PAGE: list[object] = [
    visit("A", 17),
    visit("B", 18, fraud=True),
    {"id": "C", "updatedAt": "not a time", "storeId": 18},
    visit("D", 17),
]


@pytest.fixture
def settings(kafka_bootstrap: str) -> KafkaSettings:
    return kafka_settings(kafka_bootstrap)


async def tail_lines(
    settings: KafkaSettings,
    count: int,
    *kinds: TopicKind,
    as_json: bool = False,
    **choices: frozenset[str],
) -> list[str]:
    """The first ``count`` matching records from the beginning. The page ends with a record
    that matches every filter used here, so a filter that let too much through shows up."""
    out = io.StringIO()
    options = TailOptions(
        kafka=settings,
        kinds=kinds or (TopicKind.EVENTS,),
        filter=TailFilter(**choices),
        from_beginning=True,
        max_records=count,
        as_json=as_json,
    )
    assert await tail(options, out, asyncio.Event()) == count
    return out.getvalue().splitlines()


@pytest.mark.asyncio
@pytest.mark.parametrize("encoding", [STRUCTURED, BINARY_BY_STORE], ids=["structured", "binary"])
async def test_filters_by_type_store_and_session(
    settings: KafkaSettings, encoding: EventEncoding
) -> None:
    await publish_page(settings, PAGE, encoding)
    entered = await tail_lines(settings, 3, types=frozenset({"session.entered"}))
    assert [line.split("  ")[1] for line in entered] == ["session.entered"] * 3
    assert [line.split()[2] for line in entered] == ["session=A", "session=B", "session=D"]
    store = await tail_lines(settings, 4, stores=frozenset({"17"}))
    assert {line.split()[2] for line in store} == {"session=A", "session=D"}
    assert all("store=17" in line for line in store)
    session = await tail_lines(settings, 2, sessions=frozenset({"D"}))
    assert [line.split("  ")[1] for line in session] == ["session.created", "session.entered"]
    assert "customerLastEnteredAt: null -> 2026-11-01T12:00:30.000Z" in session[1]


@pytest.mark.asyncio
async def test_fraud_state_and_dead_letter_topics(settings: KafkaSettings) -> None:
    await publish_page(settings, PAGE)
    (fraud,) = await tail_lines(settings, 1, TopicKind.FRAUD)
    assert "session.suspected_fraud_changed  session=B store=18" in fraud
    assert "suspectedFraud: null -> true" in fraud
    states = await tail_lines(settings, 3, TopicKind.STATE)
    assert [line.split("  ")[1] for line in states] == ["state"] * 3
    assert "suspectedFraud=true" in states[1]
    (letter,) = await tail_lines(settings, 1, TopicKind.DLQ, as_json=True)
    document = json.loads(letter)
    assert document["headers"]["feeder_error_field"] == "updatedAt"
    assert document["value"] == PAGE[2]
    (text,) = await tail_lines(settings, 1, TopicKind.DLQ, stores=frozenset({"18"}))
    assert "dead letter  field=updatedAt" in text


@pytest.mark.asyncio
async def test_without_from_beginning_only_new_records_are_printed(
    settings: KafkaSettings,
) -> None:
    await publish_page(settings, [visit("old", 1)])
    ready = asyncio.Event()
    out = io.StringIO()
    options = TailOptions(
        kafka=settings,
        kinds=(TopicKind.EVENTS,),
        filter=TailFilter(),
        from_beginning=False,
        max_records=2,
        as_json=True,
    )
    tailing = asyncio.create_task(tail(options, out, asyncio.Event(), on_ready=ready.set))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({tailing, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    assert not tailing.done(), tailing.exception()
    await publish_page(settings, [visit("new", 1)])
    assert await asyncio.wait_for(tailing, 60) == 2
    subjects = [json.loads(line)["subject"] for line in out.getvalue().splitlines()]
    assert subjects == ["new", "new"]


@pytest.mark.asyncio
async def test_a_missing_topic_is_named_with_its_setting(settings: KafkaSettings) -> None:
    options = TailOptions(
        kafka=settings.model_copy(
            update={"topics": settings.topics.model_copy(update={"events": "no-such-topic"})}
        ),
        kinds=(TopicKind.EVENTS,),
        filter=TailFilter(),
        from_beginning=True,
        max_records=1,
        as_json=False,
    )
    with pytest.raises(ConfigError, match=r"no-such-topic.*FEEDER_KAFKA__TOPICS__"):
        await tail(options, io.StringIO(), asyncio.Event())


@pytest.mark.asyncio
async def test_ctrl_c_stops_the_command_cleanly(settings: KafkaSettings) -> None:
    await publish_page(settings, [visit("A", 17)])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FEEDER_")},
        "FEEDER_KAFKA__TOPICS__EVENTS": settings.topics.events,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "feeder",
        "tail",
        "--bootstrap-servers",
        settings.bootstrap_servers,
        "--from-beginning",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    assert process.stdout is not None
    banner = await asyncio.wait_for(process.stderr.readline(), 60)
    assert banner.startswith(b"tailing " + settings.topics.events.encode())
    first = await asyncio.wait_for(process.stdout.readline(), 60)
    assert b"session.created  session=A" in first
    process.send_signal(signal.SIGINT)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    assert b"Traceback" not in stderr
    assert b"session.entered  session=A" in stdout
