"""Where bearer tokens come from: a :class:`TokenProvider` and its three implementations.

- :class:`StaticTokenProvider`: ``FEEDER_API__TOKEN`` (also the test double);
- :class:`TokenFileProvider`: ``FEEDER_API__TOKEN_FILE``, re-read when the file changes;
- :class:`OAuthClientCredentialsProvider`: ``FEEDER_API__OAUTH_*``, cached and refreshed.

:func:`token_provider_from_settings` picks one.
"""

from feeder.source.auth.factory import token_provider_from_settings
from feeder.source.auth.oauth import OAuthClientCredentialsProvider
from feeder.source.auth.provider import TokenProvider
from feeder.source.auth.static import StaticTokenProvider
from feeder.source.auth.token_file import TokenFileProvider

__all__ = [
    "OAuthClientCredentialsProvider",
    "StaticTokenProvider",
    "TokenFileProvider",
    "TokenProvider",
    "token_provider_from_settings",
]
