"""Secured listeners for the local broker: TLS, mutual TLS, SASL PLAIN/SCRAM and OAUTHBEARER.

The broker always keeps its PLAINTEXT listener (between its own roles, and for the readiness
probe); :class:`BrokerSecurity` adds one listener per kind of client security, each on its own
port, so one broker serves every kind at once:

=========  =============  ====================================================================
listener   protocol       clients authenticate with
=========  =============  ====================================================================
SSL        SSL            nothing (they verify the broker's certificate)
MTLS       SSL            a client certificate signed by a CA in ``tls.client_ca_pem``
SASL_SSL   SASL_SSL       PLAIN (``plain_users``), SCRAM-SHA-256 or SCRAM-SHA-512
                          (``scram_users``, created by ``kafka-storage format --add-scram``)
OAUTH      SASL_SSL       OAUTHBEARER: a JWT the broker verifies against ``oauth.jwks_url``
=========  =============  ====================================================================

Certificates come as PEM files made by the caller (the tests make them with ``cryptography``);
this module stays on the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "OAUTHBEARER": "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule",
}
_OAUTH_VALIDATOR = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
)


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """PEM files: the broker's unencrypted PKCS#8 key followed by its certificate chain (for
    127.0.0.1), and the CAs whose client certificates the MTLS listener accepts."""

    keystore_pem: Path
    client_ca_pem: Path


@dataclass(frozen=True, slots=True)
class OAuthValidation:
    """Where the OAUTH listener finds the token signer's keys, and what tokens must claim."""

    jwks_url: str
    issuer: str
    audience: str
    max_session_ms: int | None = None  # connections.max.reauth.ms of the listener (KIP-368)


@dataclass(frozen=True, slots=True)
class BrokerSecurity:
    """Which secured listeners to open; every one needs ``tls``."""

    tls: BrokerTls
    plain_users: Mapping[str, str] = field(default_factory=dict)
    scram_users: Mapping[str, str] = field(default_factory=dict)
    oauth: OAuthValidation | None = None

    def listeners(self) -> dict[str, str]:
        """Listener name -> security protocol, in a stable order."""
        names = {"SSL": "SSL", "MTLS": "SSL"}
        if self.plain_users or self.scram_users:
            names["SASL_SSL"] = "SASL_SSL"
        if self.oauth is not None:
            names["OAUTH"] = "SASL_SSL"
        return names

    def server_properties(self) -> dict[str, str]:
        """The broker settings for these listeners (besides ``listeners`` and the maps)."""
        settings = {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.tls.keystore_pem),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.tls.client_ca_pem),
            "ssl.client.auth": "none",
            "listener.name.mtls.ssl.client.auth": "required",
        }
        if self.plain_users or self.scram_users:
            mechanisms = (["PLAIN"] if self.plain_users else []) + (
                list(SCRAM_MECHANISMS) if self.scram_users else []
            )
            settings["listener.name.sasl_ssl.sasl.enabled.mechanisms"] = ",".join(mechanisms)
        if self.plain_users:
            users = " ".join(
                f'user_{name}="{password}"' for name, password in self.plain_users.items()
            )
            settings["listener.name.sasl_ssl.plain.sasl.jaas.config"] = (
                f"{_LOGIN_MODULES['PLAIN']} required {users};"
            )
        for mechanism in SCRAM_MECHANISMS if self.scram_users else ():
            settings[f"listener.name.sasl_ssl.{mechanism.lower()}.sasl.jaas.config"] = (
                f"{_LOGIN_MODULES['SCRAM']} required;"
            )
        if self.oauth is not None:
            prefix = "listener.name.oauth.oauthbearer."
            settings |= {
                "listener.name.oauth.sasl.enabled.mechanisms": "OAUTHBEARER",
                f"{prefix}sasl.jaas.config": f"{_LOGIN_MODULES['OAUTHBEARER']} required;",
                f"{prefix}sasl.server.callback.handler.class": _OAUTH_VALIDATOR,
                "sasl.oauthbearer.jwks.endpoint.url": self.oauth.jwks_url,
                "sasl.oauthbearer.expected.issuer": self.oauth.issuer,
                "sasl.oauthbearer.expected.audience": self.oauth.audience,
            }
            if self.oauth.max_session_ms is not None:
                settings[f"{prefix}connections.max.reauth.ms"] = str(self.oauth.max_session_ms)
        return settings

    def storage_format_arguments(self) -> list[str]:
        """``kafka-storage format`` arguments that create the SCRAM users with the cluster."""
        return [
            argument
            for name, password in self.scram_users.items()
            for mechanism in SCRAM_MECHANISMS
            for argument in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
        ]

    def jvm_properties(self) -> list[str]:
        """Java system properties: Kafka 4 fetches OAuth URLs only when they are allowed."""
        if self.oauth is None:
            return []
        return [f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={self.oauth.jwks_url}"]
