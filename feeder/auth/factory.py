"""The token provider that the settings ask for."""

from __future__ import annotations

import httpx

from feeder.auth.oauth import OAuthClientCredentialsProvider
from feeder.auth.static import StaticTokenProvider
from feeder.auth.token_file import TokenFileProvider
from feeder.errors import ConfigError
from feeder.settings import ApiSettings
from feeder.typing import ApiObserver, MonotonicClock, TokenProvider


def token_provider_from_settings(
    settings: ApiSettings, *, http: httpx.AsyncClient, clock: MonotonicClock, observer: ApiObserver
) -> TokenProvider:
    """A static, token-file or OAuth provider, whichever credential ``settings`` hold.

    ``http`` is used for the OAuth token endpoint (its timeouts apply); it stays the caller's.
    """
    if settings.token is not None:
        return StaticTokenProvider(settings.token)
    if settings.token_file is not None:
        return TokenFileProvider(settings.token_file, observer=observer)
    if (
        settings.oauth_token_url is not None
        and settings.oauth_client_id is not None
        and settings.oauth_client_secret is not None
    ):
        return OAuthClientCredentialsProvider(
            token_url=str(settings.oauth_token_url),
            client_id=settings.oauth_client_id,
            client_secret=settings.oauth_client_secret,
            scope=settings.oauth_scope,
            http=http,
            clock=clock,
            observer=observer,
        )
    raise ConfigError(
        "no API credential: set FEEDER_API__TOKEN, FEEDER_API__TOKEN_FILE or "
        "FEEDER_API__OAUTH_TOKEN_URL with _CLIENT_ID and _CLIENT_SECRET"
    )
