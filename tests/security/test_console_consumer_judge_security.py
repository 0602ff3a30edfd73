"""The console-consumer judge reads through a secured listener: ``consumer_properties`` reach the
Java consumer intact (a JAAS line full of spaces, quotes, ``=`` and ``;``), and a wrong password
is a failure of the read, not an empty result (the tool itself exits 0 on it)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from tests.kafka_console_consumer import (
    ConsoleConsumerError,
    ConsoleRecord,
    read_with_console_consumer,
)
from tests.security.conftest import SCRAM_PASSWORD, SCRAM_USER, SecuredKafka
from tests.worker_groups import SECURED_KAFKA

pytestmark = [pytest.mark.kafka, SECURED_KAFKA, pytest.mark.asyncio, pytest.mark.timeout(120)]


def _scram_properties(kafka: SecuredKafka, password: str) -> dict[str, str]:
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{SCRAM_USER}" password="{password}";'
        ),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(kafka.files.ca),
    }


async def _write_one(kafka: SecuredKafka, topic: str) -> int:
    """One record over the PLAINTEXT listener; its offset."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.broker.bootstrap_servers)
    await producer.start()
    try:
        metadata = await producer.send_and_wait(
            topic, b'{"n": 1}', key=b"session-1", headers=[("ce_type", b"session.entered")]
        )
    finally:
        await producer.stop()
    return int(metadata.offset)


async def test_reads_over_sasl_ssl_with_scram(secured_kafka: SecuredKafka) -> None:
    topic = f"judge-{uuid.uuid4().hex[:12]}"
    offset = await _write_one(secured_kafka, topic)
    read = await asyncio.to_thread(
        read_with_console_consumer,
        secured_kafka.broker.bootstrap_servers_of("SASL_SSL"),
        topic,
        isolation_level="read_committed",
        expected_count=1,
        timeout_s=90,
        consumer_properties=_scram_properties(secured_kafka, SCRAM_PASSWORD),
    )
    assert read == [
        ConsoleRecord(0, offset, "session-1", [("ce_type", "session.entered")], '{"n": 1}')
    ]


async def test_a_wrong_password_fails_the_read(secured_kafka: SecuredKafka) -> None:
    topic = f"judge-{uuid.uuid4().hex[:12]}"
    await _write_one(secured_kafka, topic)
    with pytest.raises(ConsoleConsumerError, match="SaslAuthenticationException"):
        await asyncio.to_thread(
            read_with_console_consumer,
            secured_kafka.broker.bootstrap_servers_of("SASL_SSL"),
            topic,
            isolation_level="read_committed",
            expected_count=1,
            timeout_s=90,
            consumer_properties=_scram_properties(secured_kafka, "not-the-password"),
        )
