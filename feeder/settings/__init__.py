"""Every setting feeder reads, in nested groups; validated once at start-up and passed explicitly.

Environment variables use the prefix ``FEEDER_`` and ``__`` between a group and its field
(``FEEDER_API__BASE_URL``); a TOML file given with ``--config`` supplies defaults that the
environment overrides.
"""

from __future__ import annotations

import socket
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from feeder.core.field_policy import FieldAction, FieldPolicy, FieldPolicyError


class _Group(BaseModel):
    # hide_input_in_errors: a validation message must never quote a credential it was given.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class ApiSettings(_Group):
    """The Oasis Admin API and how hard we may call it."""

    base_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8080"),
        description="Oasis API root; /api/admin/v2/sessions is appended",
    )
    token: SecretStr | None = Field(None, description="static bearer token")
    token_file: Path | None = Field(
        None, description="file holding the bearer token; re-read when it changes"
    )
    oauth_token_url: AnyHttpUrl | None = Field(
        None, description="OAuth2 token endpoint for the client-credentials grant (OASIS 6.3+)"
    )
    oauth_client_id: str | None = Field(None, description="OAuth2 client id")
    oauth_client_secret: SecretStr | None = Field(None, description="OAuth2 client secret")
    oauth_scope: str | None = Field(None, description="OAuth2 scope, if the provider wants one")
    connect_timeout_s: float = Field(5.0, gt=0, description="TCP/TLS connect deadline")
    request_timeout_s: float = Field(
        30.0, gt=0, description="deadline for each read, write and pool wait of one request"
    )
    max_attempts: int = Field(
        8, ge=1, description="attempts per request before the sweep backs off as a whole"
    )
    backoff_initial_s: float = Field(0.2, gt=0, description="first retry delay (then doubled)")
    backoff_max_s: float = Field(30.0, gt=0, description="cap on one retry delay")
    retry_after_max_s: float = Field(60.0, gt=0, description="cap on an honoured Retry-After")
    requests_per_s: float = Field(
        10.0,
        gt=0,
        description="client-side rate limit shared by every pass, live first (the API "
        "throttles at about 20/s)",
    )
    page_size: int = Field(200, ge=1, le=200, description="records per page (API maximum 200)")

    @model_validator(mode="after")
    def _one_credential(self) -> ApiSettings:
        sources = [
            self.token is not None,
            self.token_file is not None,
            self.oauth_token_url is not None,
        ]
        if sum(sources) != 1:
            raise ValueError(
                "set exactly one of FEEDER_API__TOKEN, FEEDER_API__TOKEN_FILE or "
                "FEEDER_API__OAUTH_TOKEN_URL (with _CLIENT_ID and _CLIENT_SECRET)"
            )
        if self.oauth_token_url is not None and (
            self.oauth_client_id is None or self.oauth_client_secret is None
        ):
            raise ValueError(
                "FEEDER_API__OAUTH_TOKEN_URL needs FEEDER_API__OAUTH_CLIENT_ID and "
                "FEEDER_API__OAUTH_CLIENT_SECRET"
            )
        return self


StartPosition = Literal["now", "earliest"] | datetime


_REMOVED_SWEEP_SETTINGS = {
    "settle_delay_s": "the live pass now reads up to the newest record every poll; writes that "
    "become visible late are caught by the re-read passes (FEEDER_SWEEP__REREAD_DELAYS_S)",
    "trailing_interval_s": "each re-read pass now runs once its window spans a twentieth of "
    "its delay (the lookback pass: every lookback_s / 20)",
}


class SweepSettings(_Group):
    """How the sessions list is swept."""

    start_position: StartPosition = Field(
        "now",
        description="where a feed with an empty checkpoint starts: now, earliest or an "
        "ISO-8601 time; transitions before it are not replayed",
    )
    reread_delays_s: tuple[float, ...] = Field(
        (1.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0, 32.0, 60.0),
        description="delays of the re-read passes behind the live edge (a JSON list, each "
        "shorter than lookback_s; defaults beyond a shorter lookback are dropped): a write that "
        "becomes visible d seconds late is caught by the first pass whose delay exceeds d; every "
        "pass reads each record once more, sharing the request budget, live first",
    )
    lookback_s: float = Field(
        300.0,
        ge=0,
        description="the last re-read pass: how late a write may become visible and still be "
        "caught; 0 turns every re-read pass off",
    )
    poll_interval_s: float = Field(
        1.0, gt=0, description="a live pass starts every this (drift-free)"
    )
    error_backoff_max_s: float = Field(
        60.0, gt=0, description="cap on the pause after a failed sweep (doubles from 1 s)"
    )
    session_retention_s: float = Field(
        86_400.0,
        ge=0,
        description="tracked sessions are pruned this long after their expiresAt",
    )
    prune_interval_s: float = Field(300.0, gt=0, description="how often pruning runs")
    shutdown_grace_s: float = Field(
        10.0, gt=0, description="on SIGTERM, time for the page in flight to finish"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_removed_settings(cls, data: object) -> object:
        if isinstance(data, dict):
            for name, why in _REMOVED_SWEEP_SETTINGS.items():
                if name in data:
                    raise ValueError(f"FEEDER_SWEEP__{name.upper()} was removed: {why}")
        return data

    @model_validator(mode="after")
    def _passes_are_ordered(self) -> SweepSettings:
        delays = self.reread_delays_s
        if any(delay <= 0 for delay in delays) or list(delays) != sorted(set(delays)):
            raise ValueError(
                "FEEDER_SWEEP__REREAD_DELAYS_S must be positive and strictly increasing"
            )
        explicit = "reread_delays_s" in self.model_fields_set
        if explicit and self.lookback_s > 0 and delays and delays[-1] >= self.lookback_s:
            raise ValueError(
                "FEEDER_SWEEP__REREAD_DELAYS_S must all be shorter than FEEDER_SWEEP__LOOKBACK_S"
            )
        # A session pruned before the lookback pass re-reads it would look new again.
        if self.session_retention_s < self.lookback_s * 1.1:
            raise ValueError(
                "FEEDER_SWEEP__SESSION_RETENTION_S must be at least 1.1 x FEEDER_SWEEP__LOOKBACK_S"
            )
        return self

    @property
    def all_reread_delays_s(self) -> tuple[float, ...]:
        """Every re-read pass's delay, the lookback pass last; none when lookback is 0.

        Default delays at or beyond a shorter lookback are left out (the lookback pass covers
        them); delays set explicitly must be shorter than it (checked at start-up).
        """
        if self.lookback_s <= 0:
            return ()
        return (*(d for d in self.reread_delays_s if d < self.lookback_s), self.lookback_s)


class TopicSettings(_Group):
    """Kafka topic names; created at start-up when missing."""

    events: str = Field("oasis.sessions.events", description="every change event")
    fraud: str = Field("oasis.sessions.fraud", description="suspected-fraud changes only")
    state: str = Field(
        "oasis.sessions.state", description="compacted latest session state, keyed by id"
    )
    dead_letter: str = Field(
        "oasis.sessions.dlq", description="records that failed validation, kept whole"
    )
    heartbeat: str = Field(
        "oasis.sessions.heartbeat",
        description="the feed's heartbeats: watermarks and counters every heartbeat.interval_s",
    )
    checkpoint: str = Field(
        "oasis.sessions.checkpoint",
        description="the Kafka checkpoint store (checkpoint.backend=kafka): compacted, one "
        "partition, read by feeder only",
    )


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


class KafkaSettings(_Group):
    """The Kafka cluster and the producer."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="comma-separated host:port")
    client_id: str = Field("feeder", description="Kafka client id")
    security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL (TLS, mTLS), SASL_PLAINTEXT or SASL_SSL"
    )
    sasl_mechanism: SaslMechanism | None = Field(
        None,
        description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER; needed by SASL_* "
        "protocols",
    )
    sasl_username: str | None = Field(None, description="SASL user name (PLAIN, SCRAM-*)")
    sasl_password: SecretStr | None = Field(None, description="SASL password (PLAIN, SCRAM-*)")
    sasl_oauth_token_url: AnyHttpUrl | None = Field(
        None,
        description="OAUTHBEARER: OAuth2 token endpoint (client-credentials grant); the token "
        "is cached and fetched again before it expires",
    )
    sasl_oauth_client_id: str | None = Field(None, description="OAUTHBEARER: OAuth2 client id")
    sasl_oauth_client_secret: SecretStr | None = Field(
        None, description="OAUTHBEARER: OAuth2 client secret"
    )
    sasl_oauth_scope: str | None = Field(
        None, description="OAUTHBEARER: OAuth2 scope, if the provider wants one"
    )
    ssl_cafile: FilePath | None = Field(
        None,
        description="PEM bundle of the CAs that signed the brokers' certificates (SSL, "
        "SASL_SSL); unset: the system's CAs",
    )
    ssl_certfile: FilePath | None = Field(
        None, description="client certificate chain (PEM) for mutual TLS; may also hold the key"
    )
    ssl_keyfile: FilePath | None = Field(
        None, description="private key (PEM) of ssl_certfile, when it is a file of its own"
    )
    ssl_key_password: SecretStr | None = Field(
        None, description="password of an encrypted client key"
    )
    compression: Literal["zstd", "lz4", "gzip", "none"] = Field(
        "zstd", description="producer compression codec"
    )
    linger_ms: int = Field(5, ge=0, description="producer batching delay")
    max_batch_bytes: int = Field(1_048_576, gt=0, description="producer batch size per partition")
    max_record_bytes: int = Field(
        1_000_000,
        gt=0,
        description="a record larger than this goes to the dead-letter topic as a small stand-in "
        "(topic, key, size, headers) instead of blocking the feed; keep it under the topics' "
        "max.message.bytes and max_batch_bytes",
    )
    send_timeout_s: float = Field(
        30.0,
        gt=0,
        description="deadline for a page's sends to be acknowledged (aiokafka #1101: "
        "an idempotent send can otherwise hang while brokers are down)",
    )
    create_topics: bool = Field(True, description="create missing topics at start-up")
    partitions: int = Field(6, ge=1, description="partitions for created topics")
    replication_factor: int = Field(
        1, ge=1, description="replication factor for created topics (3 in production)"
    )
    topics: TopicSettings = Field(default_factory=TopicSettings)
    state_delete_retention_ms: int = Field(
        604_800_000,
        ge=0,
        description="delete.retention.ms of a created state topic: how long a tombstone stays "
        "readable once compacted; a consumer offline longer may miss a session's removal and "
        "must rebuild from the start (default 7 days, Kafka's default retention of the events)",
    )
    state_min_compaction_lag_ms: int = Field(
        0,
        ge=0,
        description="min.compaction.lag.ms of a created state topic: a consumer lagging less "
        "than this sees every state record, not only the latest",
    )
    state_max_compaction_lag_ms: int = Field(
        86_400_000,
        ge=1,
        description="max.compaction.lag.ms of a created state topic: a superseded state or a "
        "tombstoned session is compacted away at most about this long after it was written "
        "(the topic's next write rolls the segment)",
    )

    @model_validator(mode="after")
    def _security_is_complete(self) -> KafkaSettings:
        for problem in kafka_security_problems(self):
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _records_fit_a_batch(self) -> KafkaSettings:
        if self.max_record_bytes > self.max_batch_bytes:
            raise ValueError(
                "FEEDER_KAFKA__MAX_RECORD_BYTES must not exceed FEEDER_KAFKA__MAX_BATCH_BYTES"
            )
        return self

    @model_validator(mode="after")
    def _compaction_lags_are_ordered(self) -> KafkaSettings:
        # Kafka refuses a topic whose minimum compaction lag exceeds its maximum.
        if self.state_min_compaction_lag_ms > self.state_max_compaction_lag_ms:
            raise ValueError(
                "FEEDER_KAFKA__STATE_MIN_COMPACTION_LAG_MS must not exceed "
                "FEEDER_KAFKA__STATE_MAX_COMPACTION_LAG_MS"
            )
        return self


def kafka_security_problems(kafka: KafkaSettings) -> list[str]:
    """What is missing or contradictory in the TLS and SASL settings (empty when they fit)."""
    protocol = kafka.security_protocol
    problems = []
    sasl_set = [
        name
        for name, value in (
            ("SASL_MECHANISM", kafka.sasl_mechanism),
            ("SASL_USERNAME", kafka.sasl_username),
            ("SASL_PASSWORD", kafka.sasl_password),
            ("SASL_OAUTH_TOKEN_URL", kafka.sasl_oauth_token_url),
            ("SASL_OAUTH_CLIENT_ID", kafka.sasl_oauth_client_id),
            ("SASL_OAUTH_CLIENT_SECRET", kafka.sasl_oauth_client_secret),
            ("SASL_OAUTH_SCOPE", kafka.sasl_oauth_scope),
        )
        if value is not None
    ]
    ssl_set = [
        name
        for name, value in (
            ("SSL_CAFILE", kafka.ssl_cafile),
            ("SSL_CERTFILE", kafka.ssl_certfile),
            ("SSL_KEYFILE", kafka.ssl_keyfile),
            ("SSL_KEY_PASSWORD", kafka.ssl_key_password),
        )
        if value is not None
    ]
    if not protocol.startswith("SASL_") and sasl_set:
        problems.append(
            f"{_kafka_names(sasl_set)}: only used when FEEDER_KAFKA__SECURITY_PROTOCOL is "
            f"SASL_SSL or SASL_PLAINTEXT, not {protocol}"
        )
    if protocol not in ("SSL", "SASL_SSL") and ssl_set:
        problems.append(
            f"{_kafka_names(ssl_set)}: only used when FEEDER_KAFKA__SECURITY_PROTOCOL is SSL "
            f"or SASL_SSL, not {protocol}"
        )
    if protocol.startswith("SASL_"):
        problems += _sasl_problems(kafka)
    if kafka.ssl_certfile is None and (kafka.ssl_keyfile or kafka.ssl_key_password):
        problems.append(
            "FEEDER_KAFKA__SSL_KEYFILE and FEEDER_KAFKA__SSL_KEY_PASSWORD need "
            "FEEDER_KAFKA__SSL_CERTFILE (the client certificate they belong to)"
        )
    return problems


def _sasl_problems(kafka: KafkaSettings) -> list[str]:
    mechanism = kafka.sasl_mechanism
    if mechanism is None:
        return [
            f"FEEDER_KAFKA__SECURITY_PROTOCOL={kafka.security_protocol} needs "
            "FEEDER_KAFKA__SASL_MECHANISM (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)"
        ]
    password = {
        "SASL_USERNAME": kafka.sasl_username,
        "SASL_PASSWORD": kafka.sasl_password,
    }
    oauth = {
        "SASL_OAUTH_TOKEN_URL": kafka.sasl_oauth_token_url,
        "SASL_OAUTH_CLIENT_ID": kafka.sasl_oauth_client_id,
        "SASL_OAUTH_CLIENT_SECRET": kafka.sasl_oauth_client_secret,
    }
    needed, unused = (oauth, password) if mechanism == "OAUTHBEARER" else (password, oauth)
    if mechanism != "OAUTHBEARER" and kafka.sasl_oauth_scope is not None:
        unused = {**unused, "SASL_OAUTH_SCOPE": kafka.sasl_oauth_scope}
    problems = []
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        problems.append(f"FEEDER_KAFKA__SASL_MECHANISM={mechanism} needs {_kafka_names(missing)}")
    stray = [name for name, value in unused.items() if value is not None]
    if stray:
        problems.append(f"{_kafka_names(stray)}: not used by SASL mechanism {mechanism}")
    return problems


def _kafka_names(fields: list[str]) -> str:
    return ", ".join(f"FEEDER_KAFKA__{field}" for field in fields)


class CheckpointSettings(_Group):
    """Where per-session state and the watermarks are kept."""

    backend: Literal["sqlite", "kafka", "memory"] = Field(
        "sqlite",
        description="sqlite (a file on this host), kafka (the compacted topic "
        "kafka.topics.checkpoint: any host can take the feed over; needed by exactly-once) or "
        "memory (tests and demos; lost on exit)",
    )
    path: Path = Field(
        Path("var/feeder.sqlite3"),
        description="sqlite: the checkpoint file; kafka: its local cache, rebuilt from the "
        "topic at every start",
    )


MIN_PSEUDONYM_KEY_CHARS = 32


class EventSettings(_Group):
    """What feeder's records look like, and what of a session they may carry."""

    source: str = Field(
        "urn:aifi:oasis:sessions", description="CloudEvents `source` of every event"
    )
    content_mode: Literal["structured", "binary"] = Field(
        "structured",
        description="CloudEvents Kafka binding mode of the events and fraud topics: structured "
        "(the value is the whole event) or binary (the value is data, attributes are ce_ headers)",
    )
    key_strategy: Literal["session", "store"] = Field(
        "session",
        description="key of the events and fraud topics: session (every session's events in "
        "order) or store (every store's events in order, hot stores make hot partitions)",
    )
    drop_fields: tuple[str, ...] = Field(
        (),
        description="JSON paths of session fields left out of every topic, e.g. "
        '["customer.firstName","metadata.*"]',
    )
    pseudonymise_fields: tuple[str, ...] = Field(
        (),
        description="JSON paths of session fields replaced on every topic by their keyed "
        'HMAC-SHA-256 (hex), e.g. ["customer.email","customer.phone"]',
    )
    pseudonym_key: SecretStr | None = Field(
        None,
        description="HMAC key of pseudonymise_fields, at least 32 characters; changing it "
        "changes every pseudonym",
    )

    @model_validator(mode="after")
    def _field_policy_applies(self) -> EventSettings:
        self.field_policy()
        return self

    def field_policy(self) -> FieldPolicy:
        """The compiled policy; raises ``ValueError`` naming the setting at fault."""
        key = self.pseudonym_key
        if key is not None and len(key.get_secret_value()) < MIN_PSEUDONYM_KEY_CHARS:
            raise ValueError(
                f"FEEDER_EVENTS__PSEUDONYM_KEY must be at least {MIN_PSEUDONYM_KEY_CHARS} "
                "characters (e.g. `openssl rand -hex 32`)"
            )
        if self.pseudonymise_fields and key is None:
            raise ValueError(
                "FEEDER_EVENTS__PSEUDONYMISE_FIELDS needs FEEDER_EVENTS__PSEUDONYM_KEY"
            )
        try:
            return FieldPolicy.of(
                drop=self.drop_fields,
                pseudonymise=self.pseudonymise_fields,
                key=None if key is None else key.get_secret_value().encode(),
            )
        except FieldPolicyError as exc:
            setting = {
                FieldAction.DROP: "FEEDER_EVENTS__DROP_FIELDS",
                FieldAction.PSEUDONYMISE: "FEEDER_EVENTS__PSEUDONYMISE_FIELDS",
            }[exc.action]
            raise ValueError(f"{setting}: {exc}") from None


class DeliverySettings(_Group):
    """The delivery guarantee, and who may write the feed."""

    mode: Literal["at-least-once", "exactly-once"] = Field(
        "at-least-once",
        description="at-least-once (a crash may re-send a page, with the same event ids) or "
        "exactly-once (each page is one Kafka transaction with its checkpoint; consumers read "
        "with isolation.level=read_committed; needs checkpoint.backend=kafka)",
    )
    transaction_timeout_s: float = Field(
        60.0,
        gt=0,
        description="transaction.timeout.ms of the transactional producer: how long a "
        "crashed instance's open transaction holds read_committed consumers back at most "
        "(a successor aborts it at once); must exceed kafka.send_timeout_s",
    )


class ReplicaSettings(_Group):
    """Replicas of feeder sharing the feeds (``feeds``) through a Kafka consumer group."""

    enabled: bool = Field(
        False,
        description="join the replica group: each feed runs on exactly one replica, and moves "
        "to another one when its replica dies or leaves (needs checkpoint.backend=kafka)",
    )
    group_id: str = Field("feeder-replicas", min_length=1, description="Kafka consumer group")
    control_topic: str = Field(
        "feeder.control",
        description="topic whose partitions stand for the feeds (one per feed, in name order); "
        "created if missing",
    )
    replica_name: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        description="this replica's name in metrics, logs and feeder status [default: host name]",
    )
    session_timeout_s: float = Field(
        10.0,
        gt=0,
        description="a replica not heard from for this long is dead: its feeds move (a clean "
        "stop moves them at once)",
    )
    heartbeat_interval_s: float = Field(
        3.0, gt=0, description="how often a replica tells the group it is alive"
    )

    @model_validator(mode="after")
    def _heartbeats_within_session(self) -> ReplicaSettings:
        if self.heartbeat_interval_s >= self.session_timeout_s:
            raise ValueError(
                "FEEDER_REPLICAS__HEARTBEAT_INTERVAL_S must be shorter than "
                "FEEDER_REPLICAS__SESSION_TIMEOUT_S"
            )
        return self


class HeartbeatSettings(_Group):
    """Heartbeats: the feed's watermarks, so consumers tell "no changes" from "feed stuck"."""

    enabled: bool = Field(True, description="publish heartbeats to kafka.topics.heartbeat")
    interval_s: float = Field(10.0, gt=0, description="seconds between heartbeats")

    @model_validator(mode="before")
    @classmethod
    def _feed_name_moved(cls, data: object) -> object:
        if isinstance(data, dict) and "feed_name" in data:
            raise ValueError("FEEDER_HEARTBEAT__FEED_NAME moved to FEEDER_FEED_NAME")
        return data

    partition_watermarks: bool = Field(
        False,
        description="also put each heartbeat as a feeder.watermark CloudEvent on every "
        "partition of the events topic (for stream processors' event time)",
    )


class ObservabilitySettings(_Group):
    """Metrics, health and logs."""

    host: str = Field("127.0.0.1", description="address of /metrics, /healthz and /readyz")
    port: int = Field(9464, ge=0, le=65535, description="port of the metrics server")
    ready_max_sweep_age_s: float = Field(
        60.0, gt=0, description="/readyz fails when the last good sweep is older than this"
    )
    log_format: Literal["text", "json"] = Field("text", description="log line format")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")


class FeederSettings(BaseSettings):
    """All of feeder's settings."""

    model_config = SettingsConfigDict(
        env_prefix="FEEDER_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    feed_name: str = Field(
        "oasis-sessions",
        min_length=1,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="the feed's name: the key and `feed` of its heartbeats, and its Kafka "
        "transactional.id (feeder-<feed_name>): two instances with one name are one feed, the "
        "newer fences the older",
    )
    api: ApiSettings = Field(default_factory=ApiSettings)  # validates: names a missing credential
    sweep: SweepSettings = Field(default_factory=SweepSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    events: EventSettings = Field(default_factory=EventSettings)
    heartbeat: HeartbeatSettings = Field(default_factory=HeartbeatSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    replicas: ReplicaSettings = Field(default_factory=ReplicaSettings)
    feeds: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="several feeds in one config: feed name -> settings that differ from these "
        "(api, sweep, kafka.topics, events, …), e.g. a TOML [feeds.store-7.api] table or JSON; "
        "each feed's checkpoint topic and cache default to these with .<name> appended; empty: "
        "one feed, these settings",
    )

    @model_validator(mode="after")
    def _exactly_once_is_possible(self) -> FeederSettings:
        if self.delivery.mode == "exactly-once" and self.checkpoint.backend != "kafka":
            raise ValueError(
                "FEEDER_DELIVERY__MODE=exactly-once needs FEEDER_CHECKPOINT__BACKEND=kafka (the "
                "checkpoint must be written in the same Kafka transaction as the events)"
            )
        if self.replicas.enabled and self.checkpoint.backend != "kafka":
            raise ValueError(
                "FEEDER_REPLICAS__ENABLED needs FEEDER_CHECKPOINT__BACKEND=kafka (a feed moving "
                "to another replica finds its checkpoint in Kafka)"
            )
        if self.delivery.transaction_timeout_s <= self.kafka.send_timeout_s:
            raise ValueError(
                "FEEDER_DELIVERY__TRANSACTION_TIMEOUT_S must exceed FEEDER_KAFKA__SEND_TIMEOUT_S"
            )
        return self

    @property
    def transactional_id(self) -> str:
        """The Kafka transactional.id of this feed (the Kafka checkpoint store fences with it)."""
        return f"feeder-{self.feed_name}"


def load_settings(config_file: Path | None = None) -> FeederSettings:
    """Read the settings from the environment over the optional TOML ``config_file``.

    Raises ``pydantic.ValidationError`` naming each invalid setting.
    """
    if config_file is None:
        return FeederSettings()

    class _FileBackedSettings(FeederSettings):
        model_config = SettingsConfigDict(toml_file=config_file)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    return _FileBackedSettings()
