"""Every setting of the simulator, in nested groups, validated once at start-up.

Environment variables use the prefix ``FEEDER_SIM_`` and ``__`` between a group and its field
(``FEEDER_SIM_TRAFFIC__STORES=50``, ``FEEDER_SIM_FAULTS__ERROR_SHARE=0.1``); every field is also a
flag of ``feeder simulate`` (see :mod:`feeder_devkit.simulator.cli`), and flags win over the
environment.
The :class:`FaultSettings` group can be replaced while the simulator runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Share = float
"""A probability in [0, 1]; fields using it carry ``ge=0, le=1``."""


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Group):
    """Where the simulator listens and whom it lets in."""

    host: str = Field("127.0.0.1", description="address to bind (loopback by default)")
    port: int = Field(8080, ge=0, le=65535, description="port to bind; 0 picks a free one")
    token: SecretStr = Field(
        SecretStr("sim-token"), description="static bearer token the sessions API accepts"
    )
    oauth_client_id: str = Field(
        "sim-client", description="client id accepted by POST /oauth2/token"
    )
    oauth_client_secret: SecretStr = Field(
        SecretStr("sim-secret"), description="client secret accepted by POST /oauth2/token"
    )
    oauth_token_lifetime_s: float = Field(
        3600.0, gt=0, description="lifetime of tokens issued by POST /oauth2/token"
    )
    rate_limit_per_s: float = Field(
        20.0, ge=0, description="requests/s per client before 503 answers; 0 disables the limit"
    )
    admin_token: SecretStr | None = Field(
        None, description="bearer token for /_simulator/ endpoints; unset means no auth there"
    )


class TrafficSettings(_Group):
    """The model of stores, customers and their sessions."""

    seed: int | None = Field(None, description="seed for a deterministic run; unset = random")
    stores: int = Field(20, ge=1, description="number of stores")
    customers: int = Field(5000, ge=1, description="number of distinct customers")
    new_sessions_per_s: float = Field(
        2.0, ge=0, description="new sessions per real second, over all stores"
    )
    speedup: float = Field(
        1.0, gt=0, description="divides every in-session duration (dwell, expiry, re-entry)"
    )
    session_ttl_s: float = Field(
        1800.0, gt=0, description="a session expires this long after creation (before speedup)"
    )
    tie_share: Share = Field(
        0.05, ge=0, le=1, description="share of changes that reuse the previous updatedAt"
    )
    fraud_share: Share = Field(
        0.02, ge=0, le=1, description="share of sessions whose suspectedFraud flips"
    )
    reentry_share: Share = Field(
        0.3, ge=0, le=1, description="chance that a customer who left enters again"
    )
    group_share: Share = Field(
        0.2, ge=0, le=1, description="share of sessions that are groups (groupSize > 1)"
    )
    preload_sessions: int = Field(
        0, ge=0, description="sessions created at start-up, spread over preload_span_s"
    )
    preload_span_s: float = Field(
        7 * 86_400.0, gt=0, description="how far back preloaded sessions were created"
    )
    hot_share: Share = Field(
        0.0,
        ge=0,
        le=1,
        description="share of sessions that are hot: touched (priority +1) every hot_interval_ms "
        "while active, as a busy store's sessions are (visitors, priority, metadata)",
    )
    hot_interval_ms: float = Field(
        500.0, gt=0, description="how often a hot session changes, in real milliseconds"
    )
    writer_skews_ms: tuple[int, ...] = Field(
        (0,),
        min_length=1,
        description="clock offsets of the API's writers; each change is stamped by one of them "
        "at random, so a slow writer's updatedAt (and moment) can be older than one served "
        "before (e.g. 0,-200,-1500)",
    )
    tick_s: float = Field(0.05, gt=0, description="how often the traffic model advances")
    start_paused: bool = Field(False, description="start with the traffic model paused")


class FaultSettings(_Group):
    """Faults injected into ``GET /api/admin/v2/sessions``; all off by default.

    Shares are per request except ``malformed_share`` (per record) and ``late_visible_share``
    (per change made by the traffic model).
    """

    error_share: Share = Field(0.0, ge=0, le=1, description="share answered with a 5xx")
    error_statuses: tuple[int, ...] = Field(
        (500, 502, 503), min_length=1, description="5xx statuses picked from for error_share"
    )
    latency_ms: float = Field(0.0, ge=0, description="delay added to every request")
    latency_jitter_ms: float = Field(
        0.0, ge=0, description="extra random delay, uniform in [0, jitter]"
    )
    hang_share: Share = Field(
        0.0, ge=0, le=1, description="share of requests that hang for hang_s, then answer 504"
    )
    hang_s: float = Field(3600.0, gt=0, description="how long a hanging request hangs")
    throttle_share: Share = Field(
        0.0, ge=0, le=1, description="share answered 429 with a Retry-After header"
    )
    retry_after_s: int = Field(1, ge=0, description="Retry-After of 429 answers, in seconds")
    retry_after_form: Literal["seconds", "http-date", "mixed"] = Field(
        "seconds", description="Retry-After as delta-seconds, an HTTP-date, or either at random"
    )
    truncated_share: Share = Field(
        0.0, ge=0, le=1, description="share of 200 answers whose JSON body is cut short"
    )
    non_json_share: Share = Field(
        0.0, ge=0, le=1, description="share of 200 answers with an HTML body instead of JSON"
    )
    malformed_share: Share = Field(
        0.0,
        ge=0,
        le=1,
        description="share of records served malformed (wrong type, bad date, missing id)",
    )
    late_visible_share: Share = Field(
        0.0,
        ge=0,
        le=1,
        description="share of traffic changes that become visible late_visible_delay_s late",
    )
    late_visible_delay_s: float = Field(
        5.0, ge=0, description="how late a late-visible change becomes visible (at least)"
    )
    late_visible_delay_max_s: float | None = Field(
        None,
        ge=0,
        description="if set, lateness is uniform between late_visible_delay_s and this",
    )
    replica_share: Share = Field(
        0.0,
        ge=0,
        le=1,
        description="share of page requests answered from the frozen replica (POST "
        "/_simulator/replica freezes one): a lagging replica serving versions already replaced",
    )
    id_format: Literal["string", "integer", "mixed"] = Field(
        "string", description="how session ids are served: string, integer, or either per record"
    )

    @field_validator("error_statuses")
    @classmethod
    def _five_hundreds(cls, statuses: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 500 <= status <= 599 for status in statuses):
            raise ValueError("error_statuses must be 5xx codes")
        return statuses


class GroundTruthSettings(_Group):
    """The log of every transition the simulator made."""

    path: Path | None = Field(
        None, description="JSONL file every transition is appended to; unset = memory only"
    )
    memory_max: int = Field(
        1_000_000, ge=1, description="transitions kept in memory for /_simulator/ground-truth"
    )
    include_preload: bool = Field(
        False, description="also log a 'created' transition for each preloaded session"
    )
    track_served: bool = Field(
        False,
        description="remember every version of every session, when it became visible and when "
        "it was first served (one entry per version: for tests that must know what a poller "
        "could have seen)",
    )


class SimulatorSettings(BaseSettings):
    """All settings of ``feeder simulate`` and :func:`feeder_devkit.simulator.run_simulator`."""

    model_config = SettingsConfigDict(
        env_prefix="FEEDER_SIM_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    server: ServerSettings = ServerSettings()
    traffic: TrafficSettings = TrafficSettings()
    faults: FaultSettings = FaultSettings()
    ground_truth: GroundTruthSettings = GroundTruthSettings()
