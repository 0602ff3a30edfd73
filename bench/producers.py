"""aiokafka (the feeder's sink) and confluent-kafka side by side: CPU to hand a page to Kafka.

    python bench/producers.py --save pages.json      # or reuse bench/core_stages.py's pages
    python bench/producers.py pages.json [--repeats 5] [--pages-per-run 50]

Both clients get the same records (real simulator pages through the feeder's core, as a backfill
makes them) with the same settings (acks=all, idempotence, zstd, linger 5 ms, 1 MiB batches),
page by page: every record of a page acknowledged before the next page starts, as the sink does.
CPU is this process's, every thread included (``time.process_time``), so librdkafka's own
threads, where it batches and compresses, are counted. Runs alternate between the clients; the
least CPU of the repeats is printed. Needs the Kafka broker of ``bench/run.py``.

confluent-kafka is not a dependency of the feeder, only of the ``bench`` extra.
Its sink here is only what the measurement needs (``publish``/``aclose`` of the feeder's
``RecordSink`` protocol), partitioning keys with murmur2 as aiokafka and Java clients do.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson
from core_stages import save_pages
from kafka_io import bench_topics, create_topics

from feeder.core.encoding import EventEncoding, backfill
from feeder.core.page_plan import parse_page, plan_page
from feeder.core.records import OutgoingRecord, TopicNames, page_records
from feeder.kafka.sink import KafkaSink
from feeder.settings import KafkaSettings, TopicSettings
from feeder.sink import RecordSink
from feeder.source.page import decode_page

FEED_START = datetime(2020, 1, 1, tzinfo=UTC)
NOW = datetime(2030, 1, 1, tzinfo=UTC)


class ConfluentSink:
    """``RecordSink`` over confluent-kafka's ``Producer``: every record of a page produced, then
    one ``flush`` (in a thread, so the event loop is free) until all are acknowledged."""

    def __init__(self, bootstrap: str) -> None:
        from confluent_kafka import Producer  # noqa: PLC0415 - optional, only for this bench

        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "compression.type": "zstd",
                "linger.ms": 5,
                "batch.size": 1_048_576,
                "partitioner": "murmur2_random",  # the Java clients' and aiokafka's placement
            }
        )
        self._failed: list[object] = []

    def _delivered(self, error: object, _message: object) -> None:
        if error is not None:
            self._failed.append(error)

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        produce = self._producer.produce
        delivered = self._delivered
        for record in records:
            produce(
                record.topic,
                record.value,
                record.key,
                headers=list(record.headers),
                on_delivery=delivered,
            )
        left = await asyncio.to_thread(self._producer.flush, 30.0)
        if left or self._failed:
            raise RuntimeError(f"{left} records unacknowledged, failures {self._failed[:3]}")

    async def aclose(self) -> None:
        await asyncio.to_thread(self._producer.flush, 30.0)


def page_record_lists(path: Path, topics: TopicNames) -> tuple[list[list[OutgoingRecord]], int]:
    """Every page's records as a from-the-start backfill makes them, and the session count."""
    bodies = [text.encode() for text in orjson.loads(path.read_bytes())]
    encoding = EventEncoding("urn:aifi:oasis:sessions", origin=backfill(FEED_START, NOW))
    pages, sessions = [], 0
    for body in bodies:
        page = decode_page(body, requested_count=200, duration_s=0.0)
        records = page.sessions  # type: ignore[union-attr]
        sessions += len(records)
        plan = plan_page(
            parse_page(records), {}, feed_start=FEED_START, now=NOW, previous_updated_at=None
        )
        pages.append(page_records(plan, encoding=encoding, topics=topics, received_at=NOW))
    return pages, sessions


async def _cpu_s(sink: RecordSink, pages: list[list[OutgoingRecord]]) -> tuple[float, float]:
    """CPU and wall seconds to publish ``pages`` one after the other (after a warm-up page)."""
    await sink.publish(pages[0])  # connections and metadata for every topic
    cpu, wall = time.process_time(), time.perf_counter()
    for page in pages:
        await sink.publish(page)
    return time.process_time() - cpu, time.perf_counter() - wall


async def _run(
    client: str, bootstrap: str, topics: TopicNames, pages: list[list[OutgoingRecord]]
) -> tuple[float, float]:
    sink: RecordSink
    if client == "aiokafka":
        names = TopicSettings(
            events=topics.events,
            fraud=topics.fraud,
            state=topics.state,
            dead_letter=topics.dead_letter,
        )
        sink = await KafkaSink.open(
            KafkaSettings(bootstrap_servers=bootstrap, create_topics=False, topics=names)
        )
    else:
        sink = ConfluentSink(bootstrap)
    try:
        return await _cpu_s(sink, pages)
    finally:
        await sink.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", type=Path, help="pages saved by --save or bench/core_stages.py")
    parser.add_argument("--save", action="store_true", help="fetch pages into PAGES and stop")
    parser.add_argument("--sessions", type=int, default=20_000, help="with --save")
    parser.add_argument("--bootstrap", default="127.0.0.1:39092")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.save:
        save_pages(args.pages, args.sessions, 50)
        return
    topics = bench_topics("producers")
    asyncio.run(create_topics(args.bootstrap, topics))
    pages, sessions = page_record_lists(args.pages, topics)
    kafka_records = sum(len(page) for page in pages)
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeats):
        for client in ("aiokafka", "confluent-kafka"):
            cpu_s, wall_s = asyncio.run(_run(client, args.bootstrap, topics, pages))
            if client not in best or cpu_s < best[client][0]:
                best[client] = (cpu_s, wall_s)
    print(f"{len(pages)} pages, {sessions:,} sessions, {kafka_records:,} Kafka records")
    print(f"{'client':<16} {'µs/session':>10} {'µs/record':>10} {'pages/s':>8}")
    for client, (cpu_s, wall_s) in best.items():
        print(
            f"{client:<16} {cpu_s * 1e6 / sessions:10.1f} {cpu_s * 1e6 / kafka_records:10.2f} "
            f"{len(pages) / wall_s:8.1f}"
        )


if __name__ == "__main__":
    sys.exit(main())
