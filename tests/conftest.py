"""Shared fixtures: a real Apache Kafka broker for the whole test run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from feeder_devkit.localkafka import LocalKafkaBroker


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real broker.

    ``KAFKA_BOOTSTRAP_SERVERS`` points at someone's running broker; ``FEEDER_TEST_DOCKER=1`` starts
    one with testcontainers (needs a Docker engine and the ``docker`` extra); otherwise a local
    KRaft broker is started from Maven Central jars and stopped when the run ends.
    """
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    if os.environ.get("FEEDER_TEST_DOCKER") == "1":
        from testcontainers.kafka import KafkaContainer  # noqa: PLC0415 - optional extra

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    with LocalKafkaBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def topic_name() -> str:
    """A topic name no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"
