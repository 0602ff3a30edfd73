"""The Kafka group: brokers, security, batching, topics."""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, Field, FilePath, SecretStr, model_validator

from feeder.settings.base import SettingsGroup


class TopicSettings(SettingsGroup):
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


class KafkaSettings(SettingsGroup):
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
