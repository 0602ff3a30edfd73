"""The component floor: the CPU cost of the parts no feeder can avoid, measured in this process.

For real simulator pages: ``orjson`` parse, edge validation (``parse_session``), event encoding
(``page_records``: CloudEvent, state record, headers) and handing the same Kafka records to a
raw aiokafka producer configured like the sink (``acks=all``, idempotent, zstd) until acked,
both one ``send`` per record and one batch per partition; the cheaper counts as the floor.
Everything is in CPU µs per session record (what the API returns); Kafka also per Kafka record.
Diffing (``plan_page``) is measured too but not counted in the floor: it is feeder's own logic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

import orjson
from kafka_io import producer
from processes import AdminClient

from feeder.core.encoding import EventEncoding
from feeder.core.page_plan import PagePlan, parse_page, plan_page
from feeder.core.records import OutgoingRecord, TopicNames, page_records
from feeder.core.snapshot import parse_session
from feeder.kafka.batches import send_in_batches
from feeder.source.page import format_api_timestamp

# The feeder's defaults, so the bytes are the same.
ENCODING = EventEncoding(source="urn:aifi:oasis:sessions")


def fetch_pages(base_url: str, start: datetime, end: datetime, pages: int) -> list[bytes]:
    """The first ``pages`` bodies of an ``updatedAt`` sweep, as the feeder would ask for them."""
    client = AdminClient(base_url)
    params: dict[str, str | int] = {
        "minUpdatedAt": format_api_timestamp(start),
        "maxUpdatedAt": format_api_timestamp(end),
        "orderBy": "updatedAt",
        "direction": "asc",
        "count": 200,
    }
    bodies: list[bytes] = []
    try:
        while len(bodies) < pages:
            body = client.get_bytes(f"/api/admin/v2/sessions?{urlencode(params)}")
            bodies.append(body)
            following = orjson.loads(body)["pagination"]["next"]
            if following is None:
                break
            params["after"] = following["after"]
    finally:
        client.close()
    return bodies


def _best_cpu_s(work: Callable[[], object], repeats: int) -> float:
    """The least CPU time of ``repeats`` runs: the cost without interference."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


async def _send_all(bootstrap: str, pages: list[list[OutgoingRecord]], *, batched: bool) -> float:
    """CPU seconds to send every page and wait for its acks: one ``send`` per record, or one
    ``create_batch``/``send_batch`` per partition (what the sink does)."""
    kafka = producer(bootstrap)
    await kafka.start()
    try:
        # Warm-up: metadata and connections for every topic, outside the measurement.
        for topic in {record.topic for page in pages for record in page}:
            await (await kafka.send(topic, b"{}", key=b"warm-up"))
        started = time.process_time()
        for page in pages:
            if batched:
                await asyncio.gather(*await send_in_batches(kafka, page))
                continue
            acks = [
                await kafka.send(r.topic, r.value, key=r.key, headers=list(r.headers)) for r in page
            ]
            await asyncio.gather(*acks)
        return time.process_time() - started
    finally:
        await kafka.stop()


def measure_floor(
    base_url: str,
    *,
    start: datetime,
    end: datetime,
    bootstrap: str,
    topics: TopicNames,
    pages: int,
    repeats: int = 3,
) -> dict[str, float]:
    bodies = fetch_pages(base_url, start, end, pages)
    documents = [orjson.loads(body) for body in bodies]
    raw_records = [record for document in documents for record in document["data"]]
    sessions = len(raw_records)
    parsed_pages = [parse_page(document["data"]) for document in documents]

    def plan_all() -> list[PagePlan]:
        return [
            plan_page(
                parsed,
                {},
                feed_start=start,
                now=end,
                previous_updated_at=None,
            )
            for parsed in parsed_pages
        ]

    plans = plan_all()

    def encode_all() -> list[list[OutgoingRecord]]:
        return [
            page_records(plan, encoding=ENCODING, topics=topics, received_at=end) for plan in plans
        ]

    encoded = encode_all()
    kafka_records = sum(len(page) for page in encoded)
    parse_s = _best_cpu_s(lambda: [orjson.loads(body) for body in bodies], repeats)
    validate_s = _best_cpu_s(lambda: [parse_session(raw) for raw in raw_records], repeats)
    plan_s = _best_cpu_s(plan_all, repeats)
    encode_s = _best_cpu_s(encode_all, repeats)
    per_record_s = min(
        asyncio.run(_send_all(bootstrap, encoded, batched=False)) for _ in range(repeats)
    )
    batched_s = min(
        asyncio.run(_send_all(bootstrap, encoded, batched=True)) for _ in range(repeats)
    )
    send_s = min(per_record_s, batched_s)  # the floor is the cheaper way to hand them over
    per_session = 1e6 / sessions
    floor_us = (parse_s + validate_s + encode_s + send_s) * per_session
    return {
        "sessions": sessions,
        "kafka_records": kafka_records,
        "events": sum(len(plan.events) for plan in plans),
        "page_bytes_mean": sum(map(len, bodies)) / len(bodies),
        "parse_us": parse_s * per_session,
        "validate_us": validate_s * per_session,
        "encode_us": encode_s * per_session,
        "kafka_send_us": send_s * per_session,
        "kafka_send_us_per_kafka_record": send_s * 1e6 / kafka_records,
        "kafka_one_send_per_record_us_per_kafka_record": per_record_s * 1e6 / kafka_records,
        "kafka_batch_per_partition_us_per_kafka_record": batched_s * 1e6 / kafka_records,
        "diff_us_not_in_floor": plan_s * per_session,
        "floor_us": floor_us,
    }
