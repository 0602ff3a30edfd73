"""Delivery modes side by side, and the Kafka checkpoint's rebuild.

Scenarios (``--only``, comma list):

- ``pages``: one page at a time into Kafka, as the sweeper hands it over: the idempotent
  producer (at-least-once) against one transaction per page holding the page's records and its
  checkpoint records (exactly-once). Prints records/s and the per-page latency (p50/p99): what
  a transaction adds before a ``read_committed`` consumer can read the page.
- ``live``: ``feeder run`` at ``--rate`` changes/s in both modes (``bench/live.py``, read back
  ``read_committed``): visible -> Kafka of every transition, feeder CPU, events/s.
- ``rebuild``: ``--sessions`` session states written to a checkpoint topic, then a fresh
  process opens the Kafka checkpoint store on it: rebuild seconds and that process's peak RSS.

Needs a broker: ``deploy/local/kafka run --port 39192`` (or ``--bootstrap``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from backfill import feeder_env
from kafka_io import percentile
from live import SHAPES, measure_live

from feeder.checkpoint.kafka_records import checkpoint_records
from feeder.core.records import OutgoingRecord
from feeder.core.state import FeedPosition, Moments, SessionState
from feeder.kafka.connection import kafka_connection
from feeder.kafka.sink import KafkaSink
from feeder.kafka.topics import checkpoint_topic
from feeder.kafka.transactions import TransactionalSink
from feeder.settings import KafkaSettings, TopicSettings

T0 = datetime(2026, 11, 1, tzinfo=UTC)
MODES = {
    "at-least-once": {"FEEDER_CHECKPOINT__BACKEND": "sqlite"},
    "exactly-once": {
        "FEEDER_CHECKPOINT__BACKEND": "kafka",
        "FEEDER_DELIVERY__MODE": "exactly-once",
    },
}


def _state(number: int) -> SessionState:
    moment = T0 + timedelta(milliseconds=number)
    return SessionState(
        session_id=f"session-{number:08d}",
        updated_at=moment,
        current=Moments(moment, None, moment),
        latest=Moments(moment, None, moment),
        suspected_fraud=number % 50 == 0,
        status="active",
        expires_at=moment + timedelta(hours=2),
        fingerprints=(number, number + 1),
        toggle_counts=(("status=active", 1),),
    )


def _page(topics: TopicSettings, page: int, sessions: int) -> list[OutgoingRecord]:
    """A page's records as the sweeper makes them: about five per session (an event, a state
    record, a fraud event now and then; values of a realistic size)."""
    records = []
    for n in range(page * sessions, (page + 1) * sessions):
        key = f"session-{n:08d}".encode()
        body = os.urandom(300).hex().encode()  # ~600 bytes, compresses like JSON does not
        records += [
            OutgoingRecord(topics.events, key, body, ()),
            OutgoingRecord(topics.events, key, body, ()),
            OutgoingRecord(topics.state, key, body + body, ()),
        ]
        if n % 10 == 0:
            records.append(OutgoingRecord(topics.fraud, key, body, ()))
    return records


def _settings(bootstrap: str) -> KafkaSettings:
    run = uuid.uuid4().hex[:8]
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        topics=TopicSettings(
            events=f"bench-events-{run}",
            fraud=f"bench-fraud-{run}",
            state=f"bench-state-{run}",
            dead_letter=f"bench-dlq-{run}",
            heartbeat=f"bench-heartbeat-{run}",
            checkpoint=f"bench-checkpoint-{run}",
        ),
    )


async def _pages(bootstrap: str, pages: int, sessions: int) -> dict[str, object]:
    settings = _settings(bootstrap)
    position = FeedPosition(T0, T0, ((4.0, T0),))
    results: dict[str, object] = {}
    sink = await KafkaSink.open(settings)  # creates the topics
    try:
        results["at-least-once"] = await _time_pages(
            lambda page: sink.publish(_page(settings.topics, page, sessions)), pages, sessions
        )
    finally:
        await sink.aclose()
    async with kafka_connection(settings) as connection:
        writer = await TransactionalSink.open(
            connection, transactional_id=f"bench-{uuid.uuid4().hex[:8]}", transaction_timeout_s=60
        )
        try:

            def transaction(page: int) -> object:
                states = [_state(n) for n in range(page * sessions, (page + 1) * sessions)]
                checkpoint = checkpoint_records(settings.topics.checkpoint, states, position)
                return writer.publish([*_page(settings.topics, page, sessions), *checkpoint])

            results["exactly-once"] = await _time_pages(transaction, pages, sessions)  # type: ignore[arg-type]
        finally:
            await writer.aclose()
    return results


async def _time_pages(publish: object, pages: int, sessions: int) -> dict[str, object]:
    latencies = []
    records = 0
    started = time.perf_counter()
    for page in range(pages):
        begun = time.perf_counter()
        await publish(page)  # type: ignore[operator]
        latencies.append(time.perf_counter() - begun)
        records += sessions
    wall_s = time.perf_counter() - started
    latencies.sort()
    return {
        "pages": pages,
        "sessions_per_page": sessions,
        "sessions_per_s": records / wall_s,
        "page_p50_ms": percentile(latencies, 0.5) * 1000,
        "page_p99_ms": percentile(latencies, 0.99) * 1000,
    }


def _live(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    results = {}
    for mode, mode_env in MODES.items():
        print(f"live at {args.rate:,.0f} changes/s, {mode} ...", flush=True)
        checkpoint = f"bench-checkpoint-{uuid.uuid4().hex[:8]}"
        asyncio.run(_create_checkpoint_topic(args.bootstrap, checkpoint))  # live.py creates none
        env = {
            **feeder_env("unset", args.bootstrap, workdir),
            **mode_env,
            "FEEDER_FEED_NAME": f"bench-{uuid.uuid4().hex[:8]}",
            "FEEDER_KAFKA__TOPICS__CHECKPOINT": checkpoint,
        }
        measured = measure_live(
            changes_per_s=args.rate,
            duration_s=args.live_s,
            warmup_s=10.0,
            tail_s=40.0,
            bootstrap=args.bootstrap,
            workdir=workdir,
            env=env,
            sweep_env={},
            shapes=SHAPES,
            requests_per_s=20.0,
        )
        visible = measured["visible_to_kafka"]
        results[mode] = {
            "changes_per_s": measured["changes_per_s"],
            "events_per_s": measured["events_per_s"],
            "feeder_cpu_share": measured["feeder_cpu_share"],
            "visible_to_kafka": {
                key: visible[key]  # type: ignore[index]
                for key in ("transitions", "p50_s", "p99_s", "max_s", "on_time", "unmatched")
            },
        }
    return results


async def _create_checkpoint_topic(bootstrap: str, topic: str) -> None:
    settings = KafkaSettings(bootstrap_servers=bootstrap, topics=TopicSettings(checkpoint=topic))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([checkpoint_topic(settings)])
    finally:
        await admin.close()


async def _fill_checkpoint(bootstrap: str, topic: str, sessions: int) -> float:
    """Write ``sessions`` states (and a position) to ``topic``; seconds it took."""
    settings = KafkaSettings(bootstrap_servers=bootstrap, topics=TopicSettings(checkpoint=topic))
    started = time.perf_counter()
    async with kafka_connection(settings) as connection:
        writer = await TransactionalSink.open(
            connection, transactional_id=f"feeder-{topic}", transaction_timeout_s=120
        )
        try:
            from feeder.checkpoint.kafka import KafkaCheckpointStore  # noqa: PLC0415

            class Quiet:
                def rebuild_progressed(self, progress: object) -> None:
                    pass

            with tempfile.TemporaryDirectory() as cache:  # creates the topic as feeder does
                store = await KafkaCheckpointStore.open(
                    connection, writer, cache_path=Path(cache) / "c.sqlite3", observer=Quiet()
                )
                await store.aclose()
            batch = 5000
            position = FeedPosition(T0, T0, ((4.0, T0),))
            for first in range(0, sessions, batch):
                states = [_state(n) for n in range(first, min(sessions, first + batch))]
                await writer.publish(checkpoint_records(topic, states, position))
        finally:
            await writer.aclose()
    return time.perf_counter() - started


REBUILD_CHILD = """
import asyncio, json, sys, time
from pathlib import Path
from feeder.checkpoint.kafka import KafkaCheckpointStore
from feeder.settings import KafkaSettings, TopicSettings
from feeder.kafka.connection import kafka_connection
from feeder.kafka.transactions import TransactionalSink

class Quiet:
    def rebuild_progressed(self, progress):
        self.last = progress

async def main(bootstrap, topic, cache):
    settings = KafkaSettings(bootstrap_servers=bootstrap, topics=TopicSettings(checkpoint=topic))
    async with kafka_connection(settings) as connection:
        writer = await TransactionalSink.open(
            connection, transactional_id="feeder-" + topic, transaction_timeout_s=120
        )
        observer = Quiet()
        started = time.perf_counter()
        store = await KafkaCheckpointStore.open(
            connection, writer, cache_path=Path(cache), observer=observer
        )
        rebuild_s = time.perf_counter() - started
        tracked = (await store.describe()).tracked_sessions
        await store.aclose()
        await writer.aclose()
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would report this
    # process's parent (the benchmark that wrote the states) when that one was larger.
    status = Path("/proc/self/status").read_text()
    peak = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1]) * 1024
    print(json.dumps({"rebuild_s": rebuild_s, "tracked_sessions": tracked,
                      "records_read": observer.last.records_read, "peak_rss_bytes": peak}))

asyncio.run(main(*sys.argv[1:]))
"""


def _rebuild(bootstrap: str, sessions: int, workdir: Path) -> dict[str, object]:
    topic = f"bench-rebuild-{uuid.uuid4().hex[:8]}"
    print(f"writing {sessions:,} session states to {topic} ...", flush=True)
    fill_s = asyncio.run(_fill_checkpoint(bootstrap, topic, sessions))
    print("rebuilding in a fresh process ...", flush=True)
    child = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", REBUILD_CHILD, bootstrap, topic, str(workdir / "cache.sqlite3")],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    cache_bytes = sum(p.stat().st_size for p in workdir.glob("cache.sqlite3*"))
    return {"sessions": sessions, "fill_s": fill_s, **measured, "cache_bytes": cache_bytes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:39192")
    parser.add_argument("--only", default="pages,live,rebuild")
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--page-sessions", type=int, default=200)
    parser.add_argument("--rate", type=float, default=1000.0, help="live changes/s")
    parser.add_argument("--live-s", type=float, default=60.0)
    parser.add_argument("--sessions", type=int, default=1_000_000, help="rebuild: sessions")
    parser.add_argument("--json", type=Path, default=Path("bench-delivery.json"))
    args = parser.parse_args()
    only = set(args.only.split(","))
    results: dict[str, object] = {"load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="feeder-bench-delivery-") as workdir:
        if "pages" in only:
            print(f"{args.pages} pages of {args.page_sessions} sessions, both modes ...")
            results["pages"] = asyncio.run(_pages(args.bootstrap, args.pages, args.page_sessions))
        if "live" in only:
            results["live"] = _live(args, Path(workdir))
        if "rebuild" in only:
            results["rebuild"] = _rebuild(args.bootstrap, args.sessions, Path(workdir))
    results["load_average_after"] = os.getloadavg()
    results["bench_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
