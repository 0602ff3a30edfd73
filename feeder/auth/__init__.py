"""Where bearer tokens come from, for the sessions API (:mod:`feeder.source`) and for Kafka's
OAUTHBEARER login (:mod:`feeder.kafka`) alike: a :class:`~feeder.typing.TokenProvider` and its
three implementations.

- :class:`StaticTokenProvider`: ``FEEDER_API__TOKEN`` (also the test double);
- :class:`TokenFileProvider`: ``FEEDER_API__TOKEN_FILE``, re-read when the file changes;
- :class:`OAuthClientCredentialsProvider`: ``FEEDER_API__OAUTH_*``, cached and refreshed.

:func:`token_provider_from_settings` picks one.
"""

from feeder.auth.factory import token_provider_from_settings
from feeder.auth.oauth import OAuthClientCredentialsProvider
from feeder.auth.static import StaticTokenProvider
from feeder.auth.token_file import TokenFileProvider
from feeder.typing import TokenProvider

__all__ = [
    "OAuthClientCredentialsProvider",
    "StaticTokenProvider",
    "TokenFileProvider",
    "TokenProvider",
    "token_provider_from_settings",
]
