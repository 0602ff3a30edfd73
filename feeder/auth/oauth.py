"""Bearer tokens from an OAuth2 client-credentials grant (OASIS 6.3+, an OpenID Connect provider).

The token is cached and fetched again ahead of its expiry: at 80% of ``expires_in``, but at least
30 s before it expires and never before half of its lifetime (so short-lived tokens are not fetched
on every request). A token without ``expires_in`` is kept until the API refuses it. If the token
endpoint fails transiently while the cached token is still valid, the cached token is used and the
fetch is tried again on the next request.

Client credentials are sent in the form body (``client_secret_post``), which every provider we know
of accepts.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from dataclasses import dataclass

import httpx
import orjson
from pydantic import SecretStr

from feeder.auth.provider import token_text_problem
from feeder.errors import ApiUnavailableError, AuthError, ConfigError, is_retriable_status
from feeder.typing import NO_OP_OBSERVER, ApiObserver, MonotonicClock

logger = logging.getLogger("feeder.source")

_REFRESH_AT_FRACTION = 0.8
_MIN_LEAD_S = 30.0
_OAUTH_ERROR_CODE = re.compile(r"[a-z_]{1,64}")  # RFC 6749 §5.2 codes; anything else is not echoed


@dataclass(frozen=True, slots=True)
class _CachedToken:
    token: SecretStr
    refresh_at_s: float  # fetch a new one from here on
    expires_at_s: float  # unusable from here on


def _refresh_lead_s(expires_in_s: float) -> float:
    """How long before expiry to fetch the next token."""
    lead_s = max((1.0 - _REFRESH_AT_FRACTION) * expires_in_s, _MIN_LEAD_S)
    return min(lead_s, expires_in_s / 2.0)


class OAuthClientCredentialsProvider:
    """Fetches, caches and refreshes an access token with ``grant_type=client_credentials``."""

    __slots__ = (
        "_cached",
        "_client_id",
        "_client_secret",
        "_clock",
        "_endpoint_setting",
        "_http",
        "_lock",
        "_observer",
        "_scope",
        "_token_url",
        "settings_hint",
    )

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        scope: str | None,
        http: httpx.AsyncClient,
        clock: MonotonicClock,
        observer: ApiObserver = NO_OP_OBSERVER,
        settings_hint: str = (
            "FEEDER_API__OAUTH_CLIENT_ID, FEEDER_API__OAUTH_CLIENT_SECRET and "
            "FEEDER_API__OAUTH_SCOPE (and that this client may list sessions)"
        ),
        endpoint_setting: str = "FEEDER_API__OAUTH_TOKEN_URL",
    ) -> None:
        """``settings_hint`` and ``endpoint_setting`` name the settings in error messages (the
        Kafka sink's OAUTHBEARER login uses this class with its own settings)."""
        self.settings_hint = settings_hint
        self._endpoint_setting = endpoint_setting
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._http = http
        self._clock = clock
        self._observer = observer
        self._cached: _CachedToken | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return (
            f"OAuthClientCredentialsProvider(token_url={self._token_url!r}, "
            f"client_id={self._client_id!r}, client_secret=SecretStr('**********'))"
        )

    async def get_token(self) -> SecretStr:
        """The cached token, fetching a new one first when it is due for refresh."""
        cached = self._cached
        if cached is not None and self._clock() < cached.refresh_at_s:
            return cached.token
        async with self._lock:  # one fetch at a time; waiters reuse its result
            cached = self._cached
            if cached is not None and self._clock() < cached.refresh_at_s:
                return cached.token
            try:
                fresh = await self._fetch()
            except ApiUnavailableError as exc:
                self._observer.on_token_refresh("oauth", "failed")
                if cached is None or self._clock() >= cached.expires_at_s:
                    raise
                logger.warning("%s; using the cached token until it expires", exc)
                return cached.token
            except (AuthError, ConfigError):
                self._observer.on_token_refresh("oauth", "failed")
                raise
            self._observer.on_token_refresh("oauth", "ok")
            self._cached = fresh
            return fresh.token

    def invalidate(self, rejected: SecretStr) -> None:
        """Drop the cached token if it is the one the API refused."""
        if self._cached is not None and self._cached.token == rejected:
            self._cached = None

    async def _fetch(self) -> _CachedToken:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
        }
        if self._scope:
            form["scope"] = self._scope
        where = f"OAuth token endpoint {self._token_url}"
        requested_at_s = self._clock()
        try:
            response = await self._http.post(
                self._token_url, data=form, headers={"Accept": "application/json"}
            )
        except httpx.TimeoutException as exc:
            raise ApiUnavailableError(f"{where} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise ApiUnavailableError(f"{where} unreachable ({type(exc).__name__})") from exc
        status = response.status_code
        if status == 200:
            return self._parse(response.content, requested_at_s, where)
        if status in (400, 401, 403):
            raise AuthError(
                f"{where} refused the client credentials ({status}"
                f"{_error_code_suffix(response.content)}); check {self.settings_hint}"
            )
        if is_retriable_status(status):
            raise ApiUnavailableError(f"{where} answered {status}")
        raise ConfigError(f"{where} answered {status}; check {self._endpoint_setting}")

    def _parse(self, body: bytes, requested_at_s: float, where: str) -> _CachedToken:
        """The token in a 200 answer; an unusable answer is treated as a transient fault."""
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiUnavailableError(f"{where} answered 200 with a body that is not JSON") from exc
        if not isinstance(document, dict):
            raise ApiUnavailableError(f"{where} answered 200 with a body that is not an object")
        access_token = document.get("access_token")
        if not isinstance(access_token, str) or token_text_problem(access_token) is not None:
            raise ApiUnavailableError(f"{where} answered 200 without a usable access_token")
        expires_in_s = _expires_in_s(document.get("expires_in"))
        if expires_in_s is None:
            return _CachedToken(SecretStr(access_token), math.inf, math.inf)
        # Measured from when we asked, so network time only makes us refresh earlier.
        expires_at_s = requested_at_s + expires_in_s
        return _CachedToken(
            SecretStr(access_token), expires_at_s - _refresh_lead_s(expires_in_s), expires_at_s
        )


def _expires_in_s(value: object) -> float | None:
    """``expires_in`` as positive seconds; some providers send it as a string."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _error_code_suffix(body: bytes) -> str:
    """``", error=invalid_client"`` from an RFC 6749 error body, or ``""``.

    Only a well-formed error code is echoed: free text could quote the request.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    code = document.get("error") if isinstance(document, dict) else None
    if isinstance(code, str) and _OAUTH_ERROR_CODE.fullmatch(code):
        return f", error={code}"
    return ""
