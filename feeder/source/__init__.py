"""The source: a client for the Oasis Admin API sessions list (HTTP, auth, retries, rate limit).

::

    SessionsApiClient.fetch_page(PageQuery) -> RawPage
      ├── IntervalRateLimiter     every attempt waits for its slot        (rate_limit.py)
      ├── TokenProvider           static, token file or OAuth2            (feeder/auth/)
      ├── BackoffPolicy           full jitter or a capped Retry-After     (retry.py)
      ├── decode_page             envelope check; records left untouched  (page.py)
      └── ApiObserver             attempts, retries, refreshes, bad bodies (feeder/typing.py)
"""

from feeder.auth import (
    OAuthClientCredentialsProvider,
    StaticTokenProvider,
    TokenFileProvider,
    TokenProvider,
    token_provider_from_settings,
)
from feeder.source.client import SESSIONS_PATH, SessionsApiClient
from feeder.source.observer import (
    NO_OP_OBSERVER,
    ApiObserver,
    AttemptOutcome,
    NoOpObserver,
    RecordingObserver,
    RetryReason,
)
from feeder.source.page import MAX_PAGE_COUNT, PageQuery, RawPage

__all__ = [
    "MAX_PAGE_COUNT",
    "NO_OP_OBSERVER",
    "SESSIONS_PATH",
    "ApiObserver",
    "AttemptOutcome",
    "NoOpObserver",
    "OAuthClientCredentialsProvider",
    "PageQuery",
    "RawPage",
    "RecordingObserver",
    "RetryReason",
    "SessionsApiClient",
    "StaticTokenProvider",
    "TokenFileProvider",
    "TokenProvider",
    "token_provider_from_settings",
]
