"""Start-up guards: what stops a feed before its first page, with a message naming the way out.

- The sessions API must be reachable (:func:`reachable_at_start`).
- A checkpoint that is empty although the feed ran before (its heartbeats say so) is refused
  (:func:`refuse_a_lost_checkpoint`): starting at ``now`` would skip everything since.
"""

from __future__ import annotations

import logging

import httpx

from feeder.errors import ApiUnavailableError, ConfigError
from feeder.kafka.connection import kafka_connection
from feeder.kafka.reader import latest_value_of_key
from feeder.schemas.models import Heartbeat
from feeder.settings import FeederSettings
from feeder.source import SessionsApiClient

logger = logging.getLogger("feeder")


async def reachable_at_start(client: SessionsApiClient) -> None:
    """One request before anything else: refused credentials (``AuthError``) or an API that
    cannot be reached at all stop the start with a message naming the setting. An API that
    answers but fails (5xx, throttling) is left to the sweep's retries."""
    try:
        await client.check()
    except ApiUnavailableError as exc:
        if not isinstance(exc.__cause__, httpx.TransportError | TimeoutError):
            logger.warning("the sessions API is failing at start-up (%s); the sweep retries", exc)
            return
        raise ConfigError(
            f"cannot reach the sessions API at start-up: {exc}; check FEEDER_API__BASE_URL"
        ) from exc


async def refuse_a_lost_checkpoint(settings: FeederSettings) -> None:
    """Stop, naming the way out, when the checkpoint (file or topic) is empty although this feed
    has run before (its heartbeats say so) and no start position was set: starting at ``now``
    would silently skip everything that changed since the checkpoint was lost."""
    if (
        settings.checkpoint.backend == "memory"
        or not settings.heartbeat.enabled
        or "start_position" in settings.sweep.model_fields_set
    ):
        return
    async with kafka_connection(settings.kafka) as connection:
        value = await latest_value_of_key(
            connection, settings.kafka.topics.heartbeat, settings.feed_name.encode()
        )
    if value is None:
        return
    beat = Heartbeat.model_validate_json(value)
    oldest = beat.watermarks[-1]
    if settings.checkpoint.backend == "kafka":
        lost = f"the checkpoint topic {settings.kafka.topics.checkpoint}"
        restore = "Restore the topic (FEEDER_KAFKA__TOPICS__CHECKPOINT)"
    else:
        lost = f"the checkpoint at {settings.checkpoint.path}"
        restore = "Restore the checkpoint file (FEEDER_CHECKPOINT__PATH)"
    raise ConfigError(
        f"{lost} is empty, but feed "
        f"{settings.feed_name!r} ran before: its last heartbeat ({beat.time}) had "
        f"published every change stamped before {oldest.watermark} (up to "
        f"{oldest.lateness_s:g} s late). Starting from now would skip what changed since. "
        f"{restore}, or set "
        f"FEEDER_SWEEP__START_POSITION={oldest.watermark} to sweep again from there "
        "(entries, exits and scans are published again under their ids; fraud and status "
        "changes are judged against no earlier state, see the README, Guarantees), or set it "
        "to now to skip that time on purpose"
    )
