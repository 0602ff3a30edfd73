"""What a failed Kafka connection means in terms of the settings.

aiokafka's bootstrap logs why a connection failed and raises only ``KafkaConnectionError("Unable
to bootstrap from ...")``. :func:`explain_connection_failure` then opens one connection itself,
where the real reason surfaces (a refused password, an untrusted certificate, a listener that
speaks another protocol), and turns it into an error naming the setting to fix;
:func:`start_within_deadline` starts every client of this package that way. No message quotes a
credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections.abc import Awaitable

from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from feeder.errors import AuthError, ConfigError, FeederError, SinkUnavailableError
from feeder.kafka.connection import KafkaConnection, OAuthTokenUnavailableError
from feeder.kafka.tls import ssl_reason
from feeder.settings import KafkaSettings


async def start_within_deadline(
    connection: KafkaConnection, start: Awaitable[object], what: str
) -> None:
    """Await an aiokafka client's ``start()`` within ``send_timeout_s``; on failure raise the
    error that names the setting to fix (see :func:`explain_connection_failure`)."""
    settings = connection.settings
    try:
        async with asyncio.timeout(settings.send_timeout_s):
            await start
    except KafkaConnectionError as exc:  # "Unable to bootstrap": aiokafka kept the reason
        raise await explain_connection_failure(connection) from exc
    except (TimeoutError, KafkaError, OSError) as exc:
        raise SinkUnavailableError(
            f"{what} failed within {settings.send_timeout_s} s ({type(exc).__name__}); check "
            f"the brokers at {settings.bootstrap_servers} (FEEDER_KAFKA__BOOTSTRAP_SERVERS)"
        ) from exc


async def explain_connection_failure(  # noqa: PLR0911 - one answer per kind of failure
    connection: KafkaConnection,
) -> FeederError:
    """Connect once to the first bootstrap server and say why that fails, naming the setting.

    Returns (does not raise) the error, so the caller can chain it to what aiokafka raised. A
    wrong password or token is an ``AuthError``, a TLS or protocol mismatch a ``ConfigError``
    (retrying cannot help); an unreachable broker is a ``SinkUnavailableError``.
    """
    settings = connection.settings
    host, port = connection.first_broker()
    where = f"Kafka at {host}:{port}"
    options = {
        key: value for key, value in connection.options.items() if key not in ("bootstrap_servers",)
    }
    try:
        async with asyncio.timeout(settings.send_timeout_s):
            conn = await create_conn(host, port, **options)
    except OAuthTokenUnavailableError as exc:
        cause = exc.__cause__
        return cause if isinstance(cause, FeederError) else _unreachable(where, exc, settings)
    except SaslAuthenticationFailed as exc:
        return _credentials_refused(where, settings, exc)
    except UnsupportedSaslMechanismError:
        return ConfigError(
            f"{where} does not offer SASL mechanism {settings.sasl_mechanism} on this listener; "
            "check FEEDER_KAFKA__SASL_MECHANISM (and the port in FEEDER_KAFKA__BOOTSTRAP_SERVERS: "
            "another listener may offer it)"
        )
    except ssl.SSLCertVerificationError as exc:
        return ConfigError(
            f"{where} presented a certificate we do not trust ({ssl_reason(exc)}); check "
            "FEEDER_KAFKA__SSL_CAFILE (the CAs that signed the brokers' certificates) and that "
            "FEEDER_KAFKA__BOOTSTRAP_SERVERS names the hosts the certificates are for"
        )
    except ssl.SSLError as exc:
        return _tls_refused(where, settings, exc)
    except TimeoutError:
        return SinkUnavailableError(
            f"{where} did not answer within {settings.send_timeout_s} s; check "
            "FEEDER_KAFKA__BOOTSTRAP_SERVERS and that FEEDER_KAFKA__SECURITY_PROTOCOL "
            f"({settings.security_protocol}) is what the listener speaks"
        )
    except KafkaConnectionError as exc:
        return await _closed_during_setup(where, connection, exc)
    except (KafkaError, OSError) as exc:
        return _unreachable(where, exc, settings)
    conn.close()
    return SinkUnavailableError(
        f"{where} accepts a connection but the client could not bootstrap; check "
        "FEEDER_KAFKA__BOOTSTRAP_SERVERS (every listed broker) and the brokers' "
        "advertised.listeners"
    )


def _credentials_refused(
    where: str, settings: KafkaSettings, exc: SaslAuthenticationFailed
) -> AuthError:
    if settings.sasl_mechanism == "OAUTHBEARER":
        check = (
            "FEEDER_KAFKA__SASL_OAUTH_TOKEN_URL, FEEDER_KAFKA__SASL_OAUTH_CLIENT_ID and "
            "FEEDER_KAFKA__SASL_OAUTH_SCOPE (the broker must accept the provider's tokens)"
        )
        who = "the OAuth token"
    else:
        check = "FEEDER_KAFKA__SASL_USERNAME and FEEDER_KAFKA__SASL_PASSWORD"
        who = f"the {settings.sasl_mechanism} credentials of user {settings.sasl_username!r}"
    return AuthError(f"{where} refused {who} ({_broker_message(exc)}); check {check}")


def _broker_message(exc: KafkaError) -> str:
    text = str(exc)
    prefix = f"{type(exc).__name__}: "
    return text.removeprefix(prefix) or type(exc).__name__


def _tls_refused(where: str, settings: KafkaSettings, exc: ssl.SSLError) -> FeederError:
    reason = ssl_reason(exc)
    if "WRONG_VERSION_NUMBER" in reason or "RECORD_LAYER" in reason:
        return ConfigError(
            f"{where} does not speak TLS ({reason}); check FEEDER_KAFKA__SECURITY_PROTOCOL "
            f"({settings.security_protocol}) and the port in FEEDER_KAFKA__BOOTSTRAP_SERVERS"
        )
    return ConfigError(
        f"{where} refused the TLS handshake ({reason}); " + _client_certificate_hint(settings)
    )


async def _closed_during_setup(
    where: str, connection: KafkaConnection, exc: KafkaConnectionError
) -> FeederError:
    settings = connection.settings
    context = connection.options.get("ssl_context")
    if isinstance(context, ssl.SSLContext):
        # With TLS 1.3 a refused client certificate arrives as an alert after the handshake,
        # which aiokafka reports as a closed connection; one more read brings the alert itself.
        alert = await _tls_alert(*connection.first_broker(), context, settings.send_timeout_s)
        if alert is not None:
            return ConfigError(
                f"{where} refused the TLS session ({alert}); " + _client_certificate_hint(settings)
            )
    return SinkUnavailableError(
        f"{where} closed the connection while it was being set up ({_broker_message(exc)}); "
        f"check FEEDER_KAFKA__SECURITY_PROTOCOL ({settings.security_protocol}): the listener "
        "may want TLS, SASL or a client certificate (FEEDER_KAFKA__SSL_CERTFILE)"
    )


# ApiVersions v0, correlation id 1, client id "feeder": any request makes the broker answer or
# send its TLS alert.
_API_VERSIONS = struct.pack(">hhih", 18, 0, 1, 6) + b"feeder"
_API_VERSIONS_REQUEST = struct.pack(">i", len(_API_VERSIONS)) + _API_VERSIONS


async def _tls_alert(host: str, port: int, context: ssl.SSLContext, timeout_s: float) -> str | None:
    """The TLS alert the broker answers a request with, or ``None`` if it answers normally."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            writer.write(_API_VERSIONS_REQUEST)
            await writer.drain()
            await reader.read(4)
    except ssl.SSLError as exc:
        return ssl_reason(exc)
    except (OSError, TimeoutError):
        return None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
    return None


def _client_certificate_hint(settings: KafkaSettings) -> str:
    if settings.ssl_certfile is None:
        return (
            "if the listener requires client certificates (mutual TLS), set "
            "FEEDER_KAFKA__SSL_CERTFILE and FEEDER_KAFKA__SSL_KEYFILE; otherwise check "
            "FEEDER_KAFKA__SECURITY_PROTOCOL"
        )
    return (
        "the broker does not accept our client certificate: check FEEDER_KAFKA__SSL_CERTFILE "
        "(it must be signed by a CA in the broker's truststore) and FEEDER_KAFKA__SSL_KEYFILE"
    )


def _unreachable(where: str, exc: BaseException, settings: KafkaSettings) -> FeederError:
    if isinstance(exc, ConnectionResetError):
        # What a plaintext listener does with a TLS hello; a restarting broker can do it too,
        # so it stays retriable.
        return SinkUnavailableError(
            f"{where} reset the connection while it was being set up; check that "
            f"FEEDER_KAFKA__SECURITY_PROTOCOL ({settings.security_protocol}) is what the "
            "listener at that port of FEEDER_KAFKA__BOOTSTRAP_SERVERS speaks"
        )
    return SinkUnavailableError(
        f"cannot connect to {where} ({ssl_reason(exc)}); check FEEDER_KAFKA__BOOTSTRAP_SERVERS"
    )
