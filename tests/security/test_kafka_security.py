"""The real Kafka sink through every kind of secured listener of a real broker, and the error a
wrong credential or an untrusted certificate gives: one that names the setting to fix."""

from __future__ import annotations

import asyncio
import logging
import sys
from asyncio.subprocess import PIPE
from typing import Any

import pytest
from pydantic import ValidationError

from feeder.core.records import OutgoingRecord
from feeder.errors import AuthError, ConfigError, FeederError
from feeder.kafka.admin import check_kafka
from feeder.settings import KafkaSettings
from feeder.sink import KafkaSink
from tests.feeder_command import without_feeder_settings
from tests.security.conftest import (
    KEY_PASSWORD,
    OAUTH_CLIENT_SECRET,
    OAUTH_SESSION_S,
    SCRAM_PASSWORD,
    SECRETS,
    SecuredKafka,
    read_secured_topic,
)
from tests.worker_groups import SECURED_KAFKA

pytestmark = [pytest.mark.kafka, SECURED_KAFKA, pytest.mark.asyncio, pytest.mark.timeout(120)]


async def publish_and_read_back(settings: KafkaSettings) -> None:
    """Open the sink (creating the topics), publish, and read the records back over the same
    listener with the same credentials."""
    sink = await KafkaSink.open(settings)
    records = [
        OutgoingRecord(settings.topics.events, b"s1", f"v{i}".encode(), (("ce_id", b"%d" % i),))
        for i in range(20)
    ]
    try:
        await sink.publish(records)
    finally:
        await sink.aclose()
    landed = await read_secured_topic(settings, settings.topics.events, at_least=20)
    assert [(r.key, r.value) for r in landed] == [(b"s1", f"v{i}".encode()) for i in range(20)]


def modes(kafka: SecuredKafka) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "ssl-ca-file": ("SSL", kafka.tls()),
        "mtls": ("MTLS", kafka.mtls()),
        "mtls-encrypted-key": ("MTLS", kafka.mtls(encrypted_key=True)),
        "mtls-key-in-certfile": (
            "MTLS",
            {**kafka.tls(), "ssl_certfile": kafka.files.client_combined},
        ),
        "sasl-ssl-plain": ("SASL_SSL", kafka.sasl("PLAIN")),
        "sasl-ssl-scram-sha-256": ("SASL_SSL", kafka.sasl("SCRAM-SHA-256")),
        "sasl-ssl-scram-sha-512": ("SASL_SSL", kafka.sasl("SCRAM-SHA-512")),
        "sasl-ssl-oauthbearer": ("OAUTH", kafka.oauth()),
    }


MODES = [
    "ssl-ca-file",
    "mtls",
    "mtls-encrypted-key",
    "mtls-key-in-certfile",
    "sasl-ssl-plain",
    "sasl-ssl-scram-sha-256",
    "sasl-ssl-scram-sha-512",
    "sasl-ssl-oauthbearer",
]


@pytest.mark.parametrize("mode", MODES)
async def test_the_sink_publishes_through_each_secured_listener(
    secured_kafka: SecuredKafka, mode: str
) -> None:
    listener, security = modes(secured_kafka)[mode]
    await publish_and_read_back(secured_kafka.settings(listener, **security))


async def test_oauthbearer_fetches_one_token_and_reuses_it(secured_kafka: SecuredKafka) -> None:
    before = len(secured_kafka.issuer.issued)
    await publish_and_read_back(secured_kafka.settings("OAUTH", **secured_kafka.oauth()))
    # One for the sink (admin client and producers share its cache), one for the test's reader.
    assert len(secured_kafka.issuer.issued) - before == 2


async def open_and_close(settings: KafkaSettings) -> None:
    sink = await KafkaSink.open(settings)
    await sink.aclose()


async def test_expired_oauthbearer_sessions_are_reopened_and_nothing_is_lost(
    secured_kafka: SecuredKafka, caplog: pytest.LogCaptureFixture
) -> None:
    """The OAUTH listener ends sessions after OAUTH_SESSION_S (connections.max.reauth.ms, as
    brokers that want token expiry enforced do). aiokafka cannot re-authenticate an open
    connection (KIP-368, aiokafka #1080): the broker closes it on its next use, aiokafka
    reconnects with a token from our provider, and the page still lands."""
    settings = secured_kafka.settings("OAUTH", **secured_kafka.oauth())
    caplog.set_level(logging.INFO, logger="aiokafka")
    sink = await KafkaSink.open(settings)

    def page(start: int) -> list[OutgoingRecord]:
        return [
            OutgoingRecord(settings.topics.events, b"s", f"v{i}".encode(), ())
            for i in range(start, start + 10)
        ]

    try:
        await sink.publish(page(0))
        logins = caplog.text.count("Authenticated via OAUTHBEARER")
        # Waiting out the session is the point of this test: nothing else ends it.
        await asyncio.sleep(OAUTH_SESSION_S + 1)
        await sink.publish(page(10))
    finally:
        await sink.aclose()
    assert caplog.text.count("Authenticated via OAUTHBEARER") > logins
    landed = await read_secured_topic(settings, settings.topics.events, at_least=20)
    assert sorted(int(r.value[1:]) for r in landed if r.value) == list(range(20))


async def failure(settings: KafkaSettings) -> FeederError:
    """The error opening the sink gives; it never quotes a secret."""
    with pytest.raises(FeederError) as raised:
        await open_and_close(settings)
    error = raised.value
    for secret in SECRETS:
        assert secret not in str(error)
    return error


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_a_wrong_sasl_password_names_the_password_setting(
    secured_kafka: SecuredKafka, mechanism: str
) -> None:
    settings = secured_kafka.settings(
        "SASL_SSL", **secured_kafka.sasl(mechanism, password=SCRAM_PASSWORD + "-wrong")
    )
    error = await failure(settings)
    assert isinstance(error, AuthError)
    assert "FEEDER_KAFKA__SASL_PASSWORD" in str(error)
    assert mechanism in str(error)
    assert "-wrong" not in str(error)


async def test_a_wrong_oauth_client_secret_names_the_oauth_settings(
    secured_kafka: SecuredKafka,
) -> None:
    settings = secured_kafka.settings(
        "OAUTH", **secured_kafka.oauth(client_secret=OAUTH_CLIENT_SECRET + "-wrong")
    )
    error = await failure(settings)
    assert isinstance(error, AuthError)
    assert "FEEDER_KAFKA__SASL_OAUTH_CLIENT_SECRET" in str(error)
    assert "invalid_client" in str(error)


async def test_a_broker_certificate_from_an_untrusted_ca_names_the_ca_setting(
    secured_kafka: SecuredKafka,
) -> None:
    settings = secured_kafka.settings(
        "SSL", security_protocol="SSL", ssl_cafile=secured_kafka.files.stranger_ca
    )
    error = await failure(settings)
    assert isinstance(error, ConfigError)
    assert "FEEDER_KAFKA__SSL_CAFILE" in str(error)
    assert "certificate we do not trust (self-signed certificate in certificate chain)" in str(
        error
    )


async def test_the_system_cas_do_not_trust_a_private_ca(secured_kafka: SecuredKafka) -> None:
    error = await failure(
        secured_kafka.settings(
            "SASL_SSL",
            **{
                **secured_kafka.sasl("SCRAM-SHA-512"),
                "ssl_cafile": None,
            },
        )
    )
    assert "FEEDER_KAFKA__SSL_CAFILE" in str(error)


async def test_an_untrusted_client_certificate_names_the_certificate_setting(
    secured_kafka: SecuredKafka,
) -> None:
    files = secured_kafka.files
    settings = secured_kafka.settings(
        "MTLS",
        **secured_kafka.tls(),
        ssl_certfile=files.stranger_cert,
        ssl_keyfile=files.stranger_key,
    )
    error = await failure(settings)
    assert isinstance(error, ConfigError)
    assert "FEEDER_KAFKA__SSL_CERTFILE" in str(error)


async def test_a_missing_client_certificate_names_the_certificate_settings(
    secured_kafka: SecuredKafka,
) -> None:
    error = await failure(secured_kafka.settings("MTLS", **secured_kafka.tls()))
    assert isinstance(error, ConfigError)
    assert "FEEDER_KAFKA__SSL_CERTFILE" in str(error)


async def test_a_wrong_key_password_names_the_key_password_setting(
    secured_kafka: SecuredKafka,
) -> None:
    settings = secured_kafka.settings(
        "MTLS", **{**secured_kafka.mtls(encrypted_key=True), "ssl_key_password": "not-it"}
    )
    error = await failure(settings)
    assert isinstance(error, ConfigError)
    assert "FEEDER_KAFKA__SSL_KEY_PASSWORD" in str(error)


async def test_an_encrypted_key_without_a_password_names_the_setting_instead_of_prompting(
    secured_kafka: SecuredKafka,
) -> None:
    settings = secured_kafka.settings(
        "MTLS",
        **{**secured_kafka.mtls(encrypted_key=True), "ssl_key_password": None},
    )
    error = await failure(settings)
    assert "FEEDER_KAFKA__SSL_KEY_PASSWORD" in str(error)


async def test_tls_against_a_plaintext_listener_names_the_protocol_setting(
    secured_kafka: SecuredKafka,
) -> None:
    settings = secured_kafka.settings("PLAINTEXT", **secured_kafka.tls())
    error = await failure(settings)
    assert "FEEDER_KAFKA__SECURITY_PROTOCOL" in str(error)


async def test_a_mechanism_the_listener_does_not_offer_names_the_mechanism_setting(
    secured_kafka: SecuredKafka,
) -> None:
    """Through ``feeder check`` as a process: aiokafka closes this refused TLS connection
    without awaiting the close_notify exchange, which in a test's short-lived event loop
    would leak its socket."""
    settings = secured_kafka.settings("OAUTH", **secured_kafka.sasl("SCRAM-SHA-256"))
    env = without_feeder_settings()
    env |= {
        "FEEDER_API__TOKEN": "t",
        "FEEDER_API__BASE_URL": "http://127.0.0.1:9",
        "FEEDER_API__MAX_ATTEMPTS": "1",
        "FEEDER_KAFKA__BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "FEEDER_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "FEEDER_KAFKA__SSL_CAFILE": str(secured_kafka.files.ca),
        "FEEDER_KAFKA__SASL_MECHANISM": "SCRAM-SHA-256",
        "FEEDER_KAFKA__SASL_USERNAME": "u",
        "FEEDER_KAFKA__SASL_PASSWORD": SCRAM_PASSWORD,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "feeder", "check", env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    stdout, stderr = out.decode(), err.decode()
    assert process.returncode == 1
    assert "does not offer SASL mechanism SCRAM-SHA-256" in stderr
    assert "check FEEDER_KAFKA__SASL_MECHANISM" in stderr
    assert SCRAM_PASSWORD not in stdout + stderr


async def test_feeder_check_reports_the_same_errors(secured_kafka: SecuredKafka) -> None:
    good = secured_kafka.settings("SASL_SSL", **secured_kafka.sasl("SCRAM-SHA-256"))
    assert len(await check_kafka(good)) == 5  # events, fraud, state, dead letters, heartbeats
    bad = good.model_copy(update={"sasl_password": None})
    with pytest.raises(ValidationError):
        KafkaSettings.model_validate(bad.model_dump())
    wrong = secured_kafka.settings(
        "SASL_SSL", **secured_kafka.sasl("SCRAM-SHA-256", password="nope")
    )
    with pytest.raises(AuthError, match="FEEDER_KAFKA__SASL_PASSWORD"):
        await check_kafka(wrong)


async def test_incomplete_security_settings_are_refused_at_start_up_naming_the_setting(
    secured_kafka: SecuredKafka,
) -> None:
    files = secured_kafka.files
    cases: list[tuple[dict[str, Any], str]] = [
        ({"security_protocol": "SASL_SSL"}, "FEEDER_KAFKA__SASL_MECHANISM"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512"},
            "FEEDER_KAFKA__SASL_PASSWORD",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER"},
            "FEEDER_KAFKA__SASL_OAUTH_CLIENT_SECRET",
        ),
        ({"sasl_password": "x"}, "FEEDER_KAFKA__SASL_PASSWORD"),
        ({"ssl_cafile": files.ca}, "FEEDER_KAFKA__SSL_CAFILE"),
        (
            {"security_protocol": "SSL", "ssl_keyfile": files.client_key},
            "FEEDER_KAFKA__SSL_CERTFILE",
        ),
        ({"security_protocol": "SSL", "ssl_cafile": "/nonexistent.pem"}, "ssl_cafile"),
    ]
    for security, named in cases:
        with pytest.raises(ValidationError, match=named):
            KafkaSettings.model_validate(security)
    assert KEY_PASSWORD not in repr(
        KafkaSettings.model_validate(secured_kafka.mtls(encrypted_key=True))
    )


async def test_unusable_certificate_and_key_files_are_named(secured_kafka: SecuredKafka) -> None:
    files = secured_kafka.files
    cases: list[tuple[dict[str, Any], str]] = [
        ({"ssl_cafile": files.client_key}, "FEEDER_KAFKA__SSL_CAFILE must be a PEM file"),
        (
            {"ssl_certfile": files.client_cert, "ssl_keyfile": files.stranger_key},
            "the client key does not belong to the client certificate",
        ),
        (
            {"ssl_certfile": files.client_cert, "ssl_keyfile": files.ca},
            "FEEDER_KAFKA__SSL_KEYFILE must be PEM files",
        ),
    ]
    for security, named in cases:
        settings = secured_kafka.settings("MTLS", **{**secured_kafka.tls(), **security})
        error = await failure(settings)
        assert isinstance(error, ConfigError)
        assert named in str(error)
