"""How feeder's Kafka clients connect: TLS, mTLS, SASL PLAIN/SCRAM/OAUTHBEARER.

:func:`kafka_connection` turns the settings into the keyword arguments every aiokafka client of
this package takes (:class:`KafkaConnection`), and owns the HTTP client of an OAUTHBEARER login.
What a failed connection means is :mod:`feeder.kafka.diagnosis`' business; the TLS context is
:mod:`feeder.kafka.tls`'. No message quotes a credential.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka.abc import AbstractTokenProvider
from aiokafka.errors import KafkaConnectionError

from feeder import __version__
from feeder.auth.oauth import OAuthClientCredentialsProvider
from feeder.errors import ApiUnavailableError, ConfigError, FeederError, SinkUnavailableError
from feeder.kafka.tls import tls_context
from feeder.settings import KafkaSettings

_OAUTH_HINT = (
    "FEEDER_KAFKA__SASL_OAUTH_CLIENT_ID, FEEDER_KAFKA__SASL_OAUTH_CLIENT_SECRET and "
    "FEEDER_KAFKA__SASL_OAUTH_SCOPE"
)
_OAUTH_TIMEOUT_S = 10.0


class OAuthTokenUnavailableError(KafkaConnectionError):  # type: ignore[misc]  # aiokafka is untyped
    """The OAUTHBEARER token could not be fetched; ``__cause__`` is the feeder error saying why.

    A ``KafkaError``, so aiokafka treats it as a failed connection (logs it, retries later)
    instead of letting it escape its background tasks.
    """


class _ClientCredentialsTokens(AbstractTokenProvider):  # type: ignore[misc]
    """aiokafka's token callback over feeder's client-credentials provider (cached, refreshed
    ahead of expiry). aiokafka asks for a token once per new connection; it does not
    re-authenticate open connections (KIP-368, aiokafka #1080)."""

    def __init__(self, tokens: OAuthClientCredentialsProvider) -> None:
        self._tokens = tokens

    async def token(self) -> str:
        try:
            return (await self._tokens.get_token()).get_secret_value()
        except FeederError as exc:
            raise OAuthTokenUnavailableError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """Keyword arguments for aiokafka's producer, consumer and admin client."""

    settings: KafkaSettings
    options: dict[str, Any]

    def first_broker(self) -> tuple[str, int]:
        host, _, port = self.settings.bootstrap_servers.split(",")[0].strip().rpartition(":")
        return host.strip("[]"), int(port)


@contextlib.asynccontextmanager
async def kafka_connection(settings: KafkaSettings) -> AsyncIterator[KafkaConnection]:
    """The client options for ``settings``; owns the HTTP client of an OAUTHBEARER login.

    Raises ``ConfigError`` naming the setting when a certificate, key or password file is
    unusable, and (OAUTHBEARER) ``AuthError`` when the token endpoint refuses the client, or
    ``SinkUnavailableError`` when it cannot be reached.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": int(settings.send_timeout_s * 1000),
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = tls_context(settings)
    if settings.sasl_mechanism is not None:
        options["sasl_mechanism"] = settings.sasl_mechanism
    if settings.sasl_mechanism != "OAUTHBEARER":
        if settings.sasl_mechanism is not None:
            options["sasl_plain_username"] = settings.sasl_username
            options["sasl_plain_password"] = (
                None
                if settings.sasl_password is None
                else settings.sasl_password.get_secret_value()
            )
        yield KafkaConnection(settings, options)
        return
    if settings.sasl_oauth_token_url is None or settings.sasl_oauth_client_id is None:
        raise ConfigError("OAUTHBEARER needs FEEDER_KAFKA__SASL_OAUTH_TOKEN_URL and _CLIENT_ID")
    if settings.sasl_oauth_client_secret is None:
        raise ConfigError("OAUTHBEARER needs FEEDER_KAFKA__SASL_OAUTH_CLIENT_SECRET")
    async with httpx.AsyncClient(
        timeout=_OAUTH_TIMEOUT_S,
        headers={"User-Agent": f"feeder/{__version__}"},
        follow_redirects=False,
    ) as http:
        tokens = OAuthClientCredentialsProvider(
            token_url=str(settings.sasl_oauth_token_url),
            client_id=settings.sasl_oauth_client_id,
            client_secret=settings.sasl_oauth_client_secret,
            scope=settings.sasl_oauth_scope,
            http=http,
            clock=time.monotonic,
            settings_hint=_OAUTH_HINT,
            endpoint_setting="FEEDER_KAFKA__SASL_OAUTH_TOKEN_URL",
        )
        # The first token is fetched now: a refused client secret fails here, naming the
        # setting, before a connection is opened and abandoned mid-handshake.
        try:
            await tokens.get_token()
        except ApiUnavailableError as exc:
            raise SinkUnavailableError(f"{exc}; check FEEDER_KAFKA__SASL_OAUTH_TOKEN_URL") from exc
        options["sasl_oauth_token_provider"] = _ClientCredentialsTokens(tokens)
        yield KafkaConnection(settings, options)
