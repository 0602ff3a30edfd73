"""The sessions list client: one page per call, with auth, retries, a rate limit and deadlines.

Each call of :meth:`SessionsApiClient.fetch_page` makes attempts until one returns a well-formed
page:

- every attempt first waits for its slot from the rate limiter (retries included);
- every attempt has an overall deadline of ``2 * (connect_timeout_s + request_timeout_s)`` on top
  of httpx's per-phase timeouts, so a server that trickles its body cannot stall the feed;
- network errors, timeouts, 408, 429, 5xx and 2xx bodies that are not a JSON object with a ``data``
  list are retried after a full-jitter exponential backoff, or after the server's ``Retry-After``
  (capped at ``retry_after_max_s``); after ``max_attempts`` of them, ``ApiUnavailableError``;
- a 401 or 403 makes the token provider drop the token and the attempt is repeated once (this does
  not count against ``max_attempts``); refused again, it is an ``AuthError`` naming the settings;
- any other status is a ``ConfigError``: retrying cannot fix the request.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Self

import httpx
from pydantic import SecretStr

from feeder import __version__
from feeder.auth import TokenProvider, token_provider_from_settings
from feeder.core.timestamps import utc_now
from feeder.errors import ApiUnavailableError, AuthError, ConfigError, is_retriable_status
from feeder.settings import ApiSettings
from feeder.source.observer import NO_OP_OBSERVER, NO_STATUS, ApiObserver, RetryReason
from feeder.source.page import MalformedBody, PageQuery, RawPage, decode_page
from feeder.source.rate_limit import IntervalRateLimiter
from feeder.source.retry import (
    BackoffPolicy,
    parse_http_date,
    parse_retry_after_s,
)
from feeder.typing import Clock, MonotonicClock, Sleep

logger = logging.getLogger("feeder.source")

SESSIONS_PATH = "/api/admin/v2/sessions"


@dataclass(frozen=True, slots=True)
class _Fault:
    """A transient failure of one attempt."""

    reason: RetryReason
    description: str  # for logs and the final error; never contains a credential
    retry_after_s: float | None = None
    cause: BaseException | None = None


@dataclass(frozen=True, slots=True)
class _Refused:
    """A 401 or 403 for ``token``."""

    status: int
    token: SecretStr


class SessionsApiClient:
    """Fetches pages of ``GET /api/admin/v2/sessions``; an async context manager.

    ``clock`` (monotonic seconds), ``sleep``, ``rng`` and ``wall_clock`` are injectable so tests
    can drive backoff, rate limiting and token expiry without waiting. ``token_provider`` replaces
    the one the settings would build.
    """

    def __init__(
        self,
        settings: ApiSettings,
        *,
        observer: ApiObserver = NO_OP_OBSERVER,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        wall_clock: Clock = utc_now,
        token_provider: TokenProvider | None = None,
    ) -> None:
        self._url = str(settings.base_url).rstrip("/") + SESSIONS_PATH
        self._max_attempts = settings.max_attempts
        self._attempt_deadline_s = 2 * (settings.connect_timeout_s + settings.request_timeout_s)
        self._observer = observer
        self._clock = clock
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._wall_clock = wall_clock
        self._backoff = BackoffPolicy.from_settings(settings)
        self._limiter = IntervalRateLimiter(settings.requests_per_s, clock=clock, sleep=sleep)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s),
            headers={"Accept": "application/json", "User-Agent": f"feeder/{__version__}"},
            follow_redirects=False,
        )
        self._tokens = token_provider or token_provider_from_settings(
            settings, http=self._http, clock=clock, observer=observer
        )
        self._closed = False

    def __repr__(self) -> str:
        return f"SessionsApiClient(url={self._url!r}, tokens={self._tokens!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        await self._http.aclose()

    @property
    def attempt_deadline_s(self) -> float:
        """The overall deadline of one attempt (token, connect, send, whole body)."""
        return self._attempt_deadline_s

    async def check(self) -> None:
        """Ask for a one-millisecond window an hour ago, proving the API is reachable and accepts
        our token without reading a current record: what the sweep has not read yet must stay
        unread until it does (the simulator's ground truth counts every record served).

        Raises the same errors as :meth:`fetch_page`.
        """
        since = self._wall_clock() - timedelta(hours=1)
        page = await self.fetch_page(PageQuery(since, since + timedelta(milliseconds=1), count=1))
        logger.info("sessions API at %s reachable; token accepted", self._url)
        logger.debug("check page had %d record(s)", len(page.sessions))

    async def fetch_page(self, query: PageQuery) -> RawPage:
        """The page ``query`` asks for.

        Raises ``ApiUnavailableError`` after ``max_attempts`` transient failures, ``AuthError``
        when the API refuses a freshly obtained token, ``ConfigError`` for any other refusal.
        """
        if self._closed:
            raise RuntimeError("SessionsApiClient is closed")
        params = query.query_params()
        failures = 0
        token_refreshed = False
        while True:
            await self._limiter.acquire()
            result = await self._attempt(params, query.count)
            if isinstance(result, RawPage):
                logger.debug(
                    "fetched %d session(s) in %.3f s; more: %s",
                    len(result.sessions),
                    result.duration_s,
                    result.next_after is not None,
                )
                return result
            if isinstance(result, _Refused):
                if token_refreshed:
                    raise AuthError(
                        f"the sessions API answered {result.status} to a freshly obtained token; "
                        f"check {self._tokens.settings_hint}"
                    )
                token_refreshed = True
                logger.warning(
                    "sessions API answered %d; refreshing the token and trying once more",
                    result.status,
                )
                self._tokens.invalidate(result.token)
                continue
            failures += 1
            if failures >= self._max_attempts:
                raise ApiUnavailableError(
                    f"GET {self._url} failed {failures} time(s) in a row, last: "
                    f"{result.description} (FEEDER_API__MAX_ATTEMPTS={self._max_attempts})"
                ) from result.cause
            delay_s = self._backoff.delay_s(failures, result.retry_after_s, self._rng)
            self._observer.on_retry(result.reason, delay_s)
            logger.warning(
                "sessions API attempt %d of %d failed: %s; retrying in %.2f s",
                failures,
                self._max_attempts,
                result.description,
                delay_s,
            )
            await self._sleep(delay_s)

    async def _attempt(
        self, params: tuple[tuple[str, str], ...], requested_count: int
    ) -> RawPage | _Fault | _Refused:
        """One request, classified; raises only what retrying cannot fix."""
        started_s = self._clock()
        try:
            async with asyncio.timeout(self._attempt_deadline_s):
                token, response, body = await self._send(params)
        except (TimeoutError, httpx.TimeoutException) as exc:
            return self._fault(
                started_s,
                "timeout",
                f"no complete answer within the deadline ({type(exc).__name__}; "
                "FEEDER_API__REQUEST_TIMEOUT_S, FEEDER_API__CONNECT_TIMEOUT_S)",
                exc,
            )
        except httpx.RequestError as exc:
            return self._fault(started_s, "network_error", f"{type(exc).__name__}: {exc}", exc)
        except ApiUnavailableError as exc:  # from the token provider
            return self._fault(started_s, "token_unavailable", str(exc), exc)
        return self._classify(response, body, token, requested_count, self._clock() - started_s)

    def _classify(
        self,
        response: httpx.Response,
        body: bytes,
        token: SecretStr,
        requested_count: int,
        duration_s: float,
    ) -> RawPage | _Fault | _Refused:
        """What one HTTP answer means; raises only what retrying cannot fix."""
        status = response.status_code
        if 200 <= status < 300:
            page = decode_page(body, requested_count=requested_count, duration_s=duration_s)
            if isinstance(page, MalformedBody):
                return self._malformed(page, status, duration_s)
            self._observer.on_attempt("ok", str(status), duration_s)
            return page
        if status in (401, 403):
            self._observer.on_attempt("auth_rejected", str(status), duration_s)
            return _Refused(status, token)
        if is_retriable_status(status):
            self._observer.on_attempt("retriable_status", str(status), duration_s)
            retry_after = response.headers.get("retry-after")
            reference = parse_http_date(response.headers.get("date")) or self._wall_clock()
            retry_after_s = parse_retry_after_s(retry_after, now=reference)
            shown = "" if retry_after is None else f", Retry-After: {retry_after[:40]}"
            return _Fault(
                "retriable_status", f"HTTP {status} {response.reason_phrase}{shown}", retry_after_s
            )
        self._observer.on_attempt("rejected", str(status), duration_s)
        raise ConfigError(
            f"the sessions API answered {status} {response.reason_phrase} to GET {self._url}; "
            "retrying cannot help: check FEEDER_API__BASE_URL points at the Oasis Admin API"
        )

    async def _send(
        self, params: tuple[tuple[str, str], ...]
    ) -> tuple[SecretStr, httpx.Response, bytes]:
        """The answer and its body, read here rather than kept on the response: an httpx
        ``Response`` and its stream refer to each other, so a response lives until the garbage
        collector finds the cycle, and with it a body of a few hundred KB per page."""
        token = await self._tokens.get_token()
        request = self._http.build_request(
            "GET",
            self._url,
            params=params,
            headers={"Authorization": f"Bearer {token.get_secret_value()}"},
        )
        response = await self._http.send(request, stream=True)
        try:
            body = b"".join([chunk async for chunk in response.aiter_bytes()])
        finally:
            await response.aclose()
        return token, response, body

    def _fault(
        self, started_s: float, reason: RetryReason, description: str, cause: BaseException
    ) -> _Fault:
        self._observer.on_attempt(reason, NO_STATUS, self._clock() - started_s)
        return _Fault(reason, description, None, cause)

    def _malformed(self, body: MalformedBody, status: int, duration_s: float) -> _Fault:
        self._observer.on_attempt("malformed_body", str(status), duration_s)
        self._observer.on_malformed_body(body.problem)
        return _Fault("malformed_body", f"malformed body ({body.problem}: {body.detail})")
