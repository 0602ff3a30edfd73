"""The long-running loops the composition root starts: polling, pruning and heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from feeder.checkpoint.reports import StoreSize
from feeder.core.encoding import EventEncoding
from feeder.core.heartbeat import FeedActivity, heartbeat_records
from feeder.core.records import TopicNames, tombstone_record
from feeder.core.state import FeedPosition
from feeder.errors import RetriableError
from feeder.sweep.sweeper import Sweeper
from feeder.typing import CheckpointStore, LoopObserver, RecordSink

logger = logging.getLogger("feeder.sweep.loops")

TOMBSTONES_PER_BATCH = 1000
"""Sessions listed, tombstoned and forgotten at a time: a backlog (after a long outage) never
becomes one huge send, and a shutdown waits for one batch at most."""


async def _pause(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stopping`` is set, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stopping.wait()


async def poll_forever(
    sweeper: Sweeper,
    *,
    stopping: asyncio.Event,
    poll_interval_s: float,
    error_backoff_max_s: float,
    observer: LoopObserver,
) -> None:
    """One sweep tick per poll interval; never die of a transient fault.

    Ticks are drift-free: a tick whose live read took 0.3 s may re-read for the remaining 0.7 s
    of a 1 s poll interval, and the next tick starts on time, so a change waits at most about
    one interval to be read. Fatal errors (bad credentials, bad settings, fencing) propagate and
    stop the process.
    """
    loop = asyncio.get_running_loop()
    backoff_s = 1.0
    while not stopping.is_set():
        started_s = loop.time()
        try:
            await sweeper.run_tick(budget_s=poll_interval_s)
        except RetriableError as exc:
            observer.sweep_failed(exc)
            logger.warning("sweep failed, retrying in %.1f s: %s", backoff_s, exc)
            await _pause(stopping, backoff_s)
            backoff_s = min(backoff_s * 2, error_backoff_max_s)
            continue
        backoff_s = 1.0
        await _pause(stopping, max(0.0, poll_interval_s - (loop.time() - started_s)))


async def prune_expired(
    store: CheckpointStore,
    sink: RecordSink,
    *,
    topics: TopicNames,
    expired_before: datetime,
    stopping: asyncio.Event,
    observer: LoopObserver,
) -> StoreSize:
    """Tombstone, then forget, every session expired before ``expired_before``; the size left.

    A batch is forgotten only after Kafka acknowledged its tombstones (the events' delivery
    guarantee): a crash in between re-sends the same tombstones, which is harmless, and a
    session never leaves the store while the state topic still holds it.
    """
    while True:
        expired = await store.expired_sessions(expired_before, TOMBSTONES_PER_BATCH)
        if expired:
            await sink.publish([tombstone_record(sid, topics) for sid in expired])
            observer.tombstones_published(topics.state, len(expired))
        size = await store.forget(expired, expired_before)
        if len(expired) < TOMBSTONES_PER_BATCH or stopping.is_set():
            return size


async def prune_forever(
    store: CheckpointStore,
    sink: RecordSink,
    *,
    topics: TopicNames,
    stopping: asyncio.Event,
    clock: Callable[[], datetime],
    retention_s: float,
    interval_s: float,
    observer: LoopObserver,
) -> None:
    """Every ``interval_s``, prune the sessions that expired more than ``retention_s`` ago
    (``prune_expired``); a Kafka outage only postpones it to the next round."""
    while not stopping.is_set():
        try:
            size = await prune_expired(
                store,
                sink,
                topics=topics,
                expired_before=clock() - timedelta(seconds=retention_s),
                stopping=stopping,
                observer=observer,
            )
        except RetriableError as exc:
            observer.prune_failed(exc)
            logger.warning("pruning failed, retrying in %.0f s: %s", interval_s, exc)
        else:
            observer.store_measured(size)
        await _pause(stopping, interval_s)


async def heartbeat_forever(
    sink: RecordSink,
    *,
    activity: FeedActivity,
    position: Callable[[], FeedPosition],
    topic: str,
    encoding: EventEncoding,
    partition_watermarks_topic: str | None,
    stopping: asyncio.Event,
    clock: Callable[[], datetime],
    interval_s: float,
    observer: LoopObserver,
) -> None:
    """Every ``interval_s`` (drift-free), publish a heartbeat for the committed ``position()``.

    A heartbeat Kafka did not take is counted and not retried: the next one, on schedule, says
    more. Heartbeats keep coming while the sweep fails, with watermarks that stand still — which
    is how a consumer tells a stuck feed from a quiet one.
    """
    loop = asyncio.get_running_loop()
    while not stopping.is_set():
        started_s = loop.time()
        records = heartbeat_records(
            activity.beat(clock(), position()),
            topic=topic,
            encoding=encoding,
            partition_watermarks_topic=partition_watermarks_topic,
        )
        try:
            await sink.publish(records)
        except RetriableError as exc:
            observer.heartbeat_failed(exc)
            logger.warning("heartbeat not published: %s", exc)
        else:
            observer.heartbeat_published(records)
        await _pause(stopping, max(0.0, interval_s - (loop.time() - started_s)))
