"""The client TLS context of feeder's Kafka clients, and what OpenSSL's errors mean in terms of
the settings."""

from __future__ import annotations

import ssl

from feeder.errors import ConfigError
from feeder.settings import KafkaSettings


def tls_context(settings: KafkaSettings) -> ssl.SSLContext:
    """A client TLS context that verifies the broker (hostname included) and, when a client
    certificate is set, presents it (mutual TLS)."""
    cafile = None if settings.ssl_cafile is None else str(settings.ssl_cafile)
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot load the CA bundle {cafile}: {ssl_reason(exc)}; FEEDER_KAFKA__SSL_CAFILE "
            "must be a PEM file of CA certificates"
        ) from exc
    if settings.ssl_certfile is None:
        return context
    password = settings.ssl_key_password

    def key_password() -> str:
        # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
        if password is None:
            raise ConfigError("the client key is encrypted: set FEEDER_KAFKA__SSL_KEY_PASSWORD")
        return password.get_secret_value()

    try:
        context.load_cert_chain(
            str(settings.ssl_certfile),
            None if settings.ssl_keyfile is None else str(settings.ssl_keyfile),
            password=key_password,
        )
    except ssl.SSLError as exc:
        raise ConfigError(_key_problem(exc, settings)) from exc
    return context


def _key_problem(exc: ssl.SSLError, settings: KafkaSettings) -> str:
    reason = ssl_reason(exc)
    if "BAD_DECRYPT" in reason or (settings.ssl_key_password is not None and "PEM" in reason):
        return (
            f"cannot decrypt the client key ({reason}); check FEEDER_KAFKA__SSL_KEY_PASSWORD "
            "and FEEDER_KAFKA__SSL_KEYFILE"
        )
    if "KEY_VALUES_MISMATCH" in reason:
        return (
            f"the client key does not belong to the client certificate ({reason}); check "
            "FEEDER_KAFKA__SSL_CERTFILE and FEEDER_KAFKA__SSL_KEYFILE"
        )
    return (
        f"cannot load the client certificate and key ({reason}); FEEDER_KAFKA__SSL_CERTFILE and "
        "FEEDER_KAFKA__SSL_KEYFILE must be PEM files (the key may be inside the certificate file)"
    )


def ssl_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return str(exc.verify_message)
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{exc.library or 'SSL'}: {exc.reason}"
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
