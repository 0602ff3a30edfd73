"""The field policy on a real feed: no e-mail or phone reaches any topic, pseudonyms survive a
restart and change with the key."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import orjson
import pytest
from feeder_devkit.simulator.server import ThreadedSimulator, run_simulator_in_thread

from feeder.runtime.feed import FeedApp
from feeder.settings import FeederSettings
from tests.e2e.harness import (
    busy_store,
    feeder_settings,
    quiesce,
    running_feed,
    wait_until,
)
from tests.kafka_reading import ReadRecord, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(240)]

KEY = "first-key-0123456789abcdef0123456789"
OTHER_KEY = "other-key-0123456789abcdef0123456789"


def gdpr_policy(key: str) -> dict[str, object]:
    return {
        "drop_fields": ["customer.firstName", "customer.lastName", "metadata.*"],
        "pseudonymise_fields": ["customer.email", "customer.phone"],
        "pseudonym_key": key,
    }


def pseudonym(key: str, value: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


async def every_record(bootstrap: str, settings: FeederSettings) -> list[ReadRecord]:
    topics = settings.kafka.topics
    records = []
    for topic in (topics.events, topics.fraud, topics.state, topics.dead_letter):
        records.extend(await read_topic(bootstrap, topic))
    return records


def customers_of(records: list[ReadRecord], settings: FeederSettings) -> list[Any]:
    """The ``customer`` object of every session carried by ``records``."""
    topics = settings.kafka.topics
    found = []
    for record in records:
        value = orjson.loads(record.value or b"null")
        if record.topic in (topics.events, topics.fraud):
            value = value["data"]["session"]
        if isinstance(value, dict) and "customer" in value:
            found.append(value)
    return found


async def some_dead_letter(app: FeedApp) -> None:
    """Until the feed dead-lettered a malformed record (the scan must cover that topic too)."""
    await wait_until(
        lambda: any(
            sample.value > 0
            for family in app.metrics.registry.collect()
            for sample in family.samples
            if sample.name == "feeder_dead_letters_total"
        ),
        timeout_s=60,
        what="a malformed record to be dead-lettered",
    )


async def more_traffic(sim: ThreadedSimulator, transitions: int) -> None:
    """Until the traffic model has made ``transitions`` more changes."""
    seen = sim.call(lambda s: s.last_seq)
    await wait_until(
        lambda: sim.call(lambda s: s.last_seq) >= seen + transitions,
        timeout_s=60,
        what=f"{transitions} more transitions",
    )


async def test_no_email_or_phone_reaches_any_topic_and_pseudonyms_are_stable(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with run_simulator_in_thread(busy_store(seed=31, malformed_share=0.05)) as sim:
        first = feeder_settings(
            sim.base_url,
            sim.token,
            kafka_bootstrap,
            tmp_path / "cp.sqlite3",
            events=gdpr_policy(KEY),
        )
        async with running_feed(first) as app:
            await more_traffic(sim, 60)
            await some_dead_letter(app)
            await quiesce(sim, app)
        before_restart = len(await every_record(kafka_bootstrap, first))
        async with running_feed(first) as app:  # a restart: the key comes from the settings again
            sim.call(lambda s: s.resume())
            await more_traffic(sim, 60)
            await quiesce(sim, app)
        other = feeder_settings(
            sim.base_url,
            sim.token,
            kafka_bootstrap,
            tmp_path / "other.sqlite3",
            events=gdpr_policy(OTHER_KEY),
        )
        async with running_feed(other) as app:
            sim.call(lambda s: s.resume())
            await some_dead_letter(app)  # malformed records are served at random (5 %)
            await quiesce(sim, app)
        session_ids = {t.session_id for t in sim.call(lambda s: s.ground_truth())}
        # As the API serves them (the simulator's own dict splices in pre-encoded parts).
        served = [
            orjson.loads(orjson.dumps(sim.call(lambda s, sid=sid: s.session(sid))))
            for sid in session_ids
        ]

    customers = {str(session["id"]): session["customer"] for session in served}
    secrets = {
        text.encode()
        for customer in customers.values()
        for text in (customer["email"], customer["phone"])
    }
    assert len(secrets) > 20, "the traffic model produced too few customers to test"

    for settings, key in ((first, KEY), (other, OTHER_KEY)):
        records = await every_record(kafka_bootstrap, settings)
        topics = {record.topic for record in records}
        assert topics == {
            settings.kafka.topics.events,
            settings.kafka.topics.fraud,
            settings.kafka.topics.state,
            settings.kafka.topics.dead_letter,
        }, "every topic must have records, or the scan proves nothing"
        for record in records:
            written = b"".join([record.key or b"", record.value or b"", *record.headers.values()])
            leaked = [secret for secret in secrets if secret in written]
            assert leaked == [], (record.topic, leaked)
        sessions = customers_of(records, settings)
        assert len(sessions) > len(records) // 2
        for session in sessions:
            truth = customers[str(session.get("id", ""))] if "id" in session else None
            customer = session["customer"]
            assert "firstName" not in customer
            assert "lastName" not in customer
            assert session["metadata"] == {}
            if truth is not None:  # a dead letter may have lost its id
                assert customer["email"] == pseudonym(key, truth["email"])
                assert customer["phone"] == pseudonym(key, truth["phone"])
                assert customer["id"] == truth["id"]  # what the policy does not name stays
        if settings is first:
            assert len(records) > before_restart, "nothing was written after the restart"
