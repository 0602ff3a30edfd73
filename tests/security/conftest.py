"""One secured broker for every security test: SSL, MTLS, SASL_SSL (PLAIN, SCRAM-SHA-256/512)
and OAUTH (OAUTHBEARER) listeners beside PLAINTEXT, started once per run (a secured broker
takes seconds to start; every test shares it).

The secrets are distinctive strings, so the hygiene test can search every output for them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from feeder_devkit.localkafka import LocalKafkaBroker
from feeder_devkit.localkafka.security import BrokerSecurity, BrokerTls, OAuthValidation

from feeder.kafka.connection import kafka_connection
from feeder.settings import KafkaSettings
from tests.kafka_reading import ReadRecord, read_topic
from tests.security.pki import SecurityFiles
from tests.security.token_issuer import AUDIENCE, TokenIssuer, running_issuer

PLAIN_USER, PLAIN_PASSWORD = "feeder-plain", "plain-pw-Q7vX2kLm9"
SCRAM_USER, SCRAM_PASSWORD = "feeder-scram", "scram-pw-Z3nR8tYw4"
OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET = "feeder-kafka", "oauth-secret-H5jP1cVb6"
KEY_PASSWORD = "keypass-D9sW4mQe2"
OAUTH_SESSION_S = 4.0  # the OAUTH listener ends sessions after this (KIP-368)
SECRETS = (PLAIN_PASSWORD, SCRAM_PASSWORD, OAUTH_CLIENT_SECRET, KEY_PASSWORD)


@dataclass(frozen=True)
class SecuredKafka:
    broker: LocalKafkaBroker
    files: SecurityFiles
    issuer: TokenIssuer

    def settings(self, listener: str, **security: Any) -> KafkaSettings:
        """Kafka settings for ``listener`` with topics no other test uses."""
        suffix = uuid.uuid4().hex[:8]
        return KafkaSettings.model_validate(
            {
                "bootstrap_servers": self.broker.bootstrap_servers_of(listener),
                "partitions": 1,
                "send_timeout_s": 15,
                "topics": {
                    "events": f"events-{suffix}",
                    "fraud": f"fraud-{suffix}",
                    "state": f"state-{suffix}",
                    "dead_letter": f"dlq-{suffix}",
                    "heartbeat": f"heartbeat-{suffix}",
                },
                **security,
            }
        )

    def tls(self) -> dict[str, Any]:
        return {"security_protocol": "SSL", "ssl_cafile": self.files.ca}

    def mtls(self, *, encrypted_key: bool = False) -> dict[str, Any]:
        key = self.files.client_key_encrypted if encrypted_key else self.files.client_key
        return {
            **self.tls(),
            "ssl_certfile": self.files.client_cert,
            "ssl_keyfile": key,
            **({"ssl_key_password": KEY_PASSWORD} if encrypted_key else {}),
        }

    def sasl(self, mechanism: str, password: str | None = None) -> dict[str, Any]:
        user, right = (
            (PLAIN_USER, PLAIN_PASSWORD)
            if mechanism == "PLAIN"
            else (
                SCRAM_USER,
                SCRAM_PASSWORD,
            )
        )
        return {
            "security_protocol": "SASL_SSL",
            "ssl_cafile": self.files.ca,
            "sasl_mechanism": mechanism,
            "sasl_username": user,
            "sasl_password": password or right,
        }

    def oauth(self, client_secret: str = OAUTH_CLIENT_SECRET) -> dict[str, Any]:
        return {
            "security_protocol": "SASL_SSL",
            "ssl_cafile": self.files.ca,
            "sasl_mechanism": "OAUTHBEARER",
            "sasl_oauth_token_url": self.issuer.token_url,
            "sasl_oauth_client_id": OAUTH_CLIENT_ID,
            "sasl_oauth_client_secret": client_secret,
            "sasl_oauth_scope": "kafka.produce",
        }


async def read_secured_topic(
    settings: KafkaSettings, topic: str, *, at_least: int
) -> list[ReadRecord]:
    """Read ``topic`` back through the same listener, with the same credentials."""
    async with kafka_connection(settings) as connection:
        return await read_topic(
            settings.bootstrap_servers, topic, at_least=at_least, client_options=connection.options
        )


@pytest.fixture(scope="session")
def secured_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredKafka]:
    folder: Path = tmp_path_factory.mktemp("pki")
    files = SecurityFiles.create(folder, KEY_PASSWORD)
    with running_issuer(OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET) as issuer:
        security = BrokerSecurity(
            tls=BrokerTls(keystore_pem=files.broker_keystore, client_ca_pem=files.ca),
            plain_users={PLAIN_USER: PLAIN_PASSWORD},
            scram_users={SCRAM_USER: SCRAM_PASSWORD},
            oauth=OAuthValidation(
                jwks_url=issuer.jwks_url,
                issuer=issuer.issuer,
                audience=AUDIENCE,
                max_session_ms=int(OAUTH_SESSION_S * 1000),
            ),
        )
        with LocalKafkaBroker(security=security) as broker:
            yield SecuredKafka(broker, files, issuer)
