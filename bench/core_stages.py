"""The core's stages over saved pages, in this process: CPU µs per session, and a digest of output.

``python bench/core_stages.py --save pages.json`` fetches pages from a fresh simulator (started
here, ``--sessions`` preloaded) and keeps them; ``python bench/core_stages.py pages.json`` then
times each stage a backfill runs per page (parse, validation, dedupe/diff, event ids, encoding,
checkpoint) and prints a SHA-256 over every record's topic, key, value and headers and every
event id, for each content mode and key strategy and with a field policy. Two versions of the
core that print the same digests produce the same bytes and ids for these pages; the timings say
what a change saved. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from feeder.checkpoint.sqlite import SqliteCheckpointStore
from feeder.core.encoding import ContentMode, EventEncoding, KeyStrategy, backfill
from feeder.core.events import event_id
from feeder.core.field_policy import FieldPolicy
from feeder.core.page_plan import PagePlan, parse_page, plan_page
from feeder.core.records import OutgoingRecord, TopicNames, page_records
from feeder.core.state import FeedPosition
from feeder.source.page import decode_page

TOPICS = TopicNames("events", "fraud", "state", "dlq")
SOURCE = "urn:aifi:oasis:sessions"
FEED_START = datetime(2020, 1, 1, tzinfo=UTC)
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _encodings() -> dict[str, EventEncoding]:
    window = backfill(FEED_START, NOW)
    policy = FieldPolicy.of(drop=["items"], pseudonymise=["customerId"], key=b"k")
    return {
        "structured": EventEncoding(SOURCE),
        "structured-backfill": EventEncoding(SOURCE, origin=window),
        "binary-backfill-store": EventEncoding(
            SOURCE, ContentMode.BINARY, window, key_strategy=KeyStrategy.STORE
        ),
        "structured-policy": EventEncoding(SOURCE, field_policy=policy),
    }


def save_pages(path: Path, sessions: int, pages: int) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from floor import fetch_pages  # noqa: PLC0415 - bench's own helpers, only for --save
    from processes import start_simulator  # noqa: PLC0415

    simulator, base_url = start_simulator(
        sessions, extra_args=["--start-paused", "--rate-limit-per-s", "0"]
    )
    try:
        end = datetime.now(UTC)
        bodies = fetch_pages(base_url, end - timedelta(days=9), end, pages)
    finally:
        simulator.terminate()
        simulator.wait(timeout=60)
    path.write_bytes(orjson.dumps([body.decode() for body in bodies]))
    print(f"saved {len(bodies)} pages to {path}")


def _best_s(work: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def digest(records: list[list[OutgoingRecord]], plans: list[PagePlan]) -> str:
    sha = hashlib.sha256()
    for page in records:
        for record in page:
            sha.update(record.topic.encode() + b"\0")
            sha.update((record.key or b"<none>") + b"\0")
            sha.update((record.value or b"<none>") + b"\0")
            for name, value in record.headers:
                sha.update(name.encode() + b"=" + value + b"\0")
            sha.update((record.event_id or "").encode() + b"\1")
    for plan in plans:
        for event in plan.events:
            sha.update(event.id.encode())
    return sha.hexdigest()[:16]


async def _checkpoint_s(plans: list[PagePlan], parsed_ids: list[set[str]]) -> float:
    """CPU of loading each page's known states and committing its new ones, in SQLite."""
    with tempfile.TemporaryDirectory() as directory:
        store = await SqliteCheckpointStore.open(Path(directory) / "state.sqlite3")
        try:
            position = FeedPosition.starting(FEED_START, ())
            started = time.process_time()
            for plan, ids in zip(plans, parsed_ids, strict=True):
                await store.load_states(ids)
                await store.commit(plan.states.values(), position)
            return time.process_time() - started
        finally:
            await store.aclose()


def measure(path: Path, repeats: int) -> dict[str, object]:
    bodies = [text.encode() for text in orjson.loads(path.read_bytes())]
    raw_pages = [decode_page(body, requested_count=200, duration_s=0.0) for body in bodies]
    record_lists = [page.sessions for page in raw_pages]  # type: ignore[union-attr]
    sessions = sum(len(records) for records in record_lists)
    parsed = [parse_page(records) for records in record_lists]

    def plan_all() -> list[PagePlan]:
        return [
            plan_page(p, {}, feed_start=FEED_START, now=NOW, previous_updated_at=None)
            for p in parsed
        ]

    plans = plan_all()
    changes = [(event.subject, event.change) for plan in plans for event in plan.events]
    encodings = _encodings()
    default = encodings["structured-backfill"]

    def encode_all(encoding: EventEncoding = default) -> list[list[OutgoingRecord]]:
        return [
            page_records(plan, encoding=encoding, topics=TOPICS, received_at=NOW) for plan in plans
        ]

    per_session = 1e6 / sessions
    stages = {
        "parse_us": _best_s(
            lambda: [decode_page(b, requested_count=200, duration_s=0.0) for b in bodies], repeats
        ),
        "validate_us": _best_s(lambda: [parse_page(r) for r in record_lists], repeats),
        "plan_us (dedupe, diff, event ids)": _best_s(plan_all, repeats),
        "event_ids_us (inside plan)": _best_s(
            lambda: [event_id(subject, change) for subject, change in changes], repeats
        ),
        "encode_us": _best_s(encode_all, repeats),
        "checkpoint_us": min(
            asyncio.run(_checkpoint_s(plans, [p.session_ids for p in parsed]))
            for _ in range(repeats)
        ),
    }
    result: dict[str, object] = {k: v * per_session for k, v in stages.items()}
    result["sessions"] = sessions
    result["events"] = sum(len(plan.events) for plan in plans)
    result["kafka_records"] = sum(len(page) for page in encode_all())
    result["digests"] = {
        name: digest(encode_all(encoding), plans) for name, encoding in encodings.items()
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", type=Path)
    parser.add_argument("--save", action="store_true", help="fetch and save the pages first")
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--count", type=int, default=50, help="pages to save")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if args.save:
        save_pages(args.pages, args.sessions, args.count)
        return
    for name, value in measure(args.pages, args.repeats).items():
        if isinstance(value, float):
            print(f"{name:<36} {value:8.1f}")
        else:
            print(f"{name:<36} {value}")


if __name__ == "__main__":
    main()
