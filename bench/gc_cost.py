"""What CPython's automatic garbage collector costs the core, with pages in flight as a backfill
holds them: CPU µs per session of parse, plan and encode, collector on and off.

    python bench/core_stages.py --save pages.json
    python bench/gc_cost.py pages.json [--in-flight 1,8] [--repeats 2]

Each run walks the saved pages four times, keeping the last ``--in-flight`` pages' objects alive
(a backfill's concurrent slices each hold one page until Kafka acknowledged it); runs alternate
between the collector on (CPython's thresholds) and off, after ``gc.freeze()`` as the commands
do. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import collections
import gc
import time
from pathlib import Path

import orjson
from core_stages import FEED_START, NOW, SOURCE, TOPICS

from feeder.core.encoding import EventEncoding, backfill
from feeder.core.page_plan import parse_page, plan_page
from feeder.core.records import page_records
from feeder.source.page import decode_page

PASSES = 4


def run_core(bodies: list[bytes], in_flight: int) -> float:
    """CPU seconds of parse, plan and encode over every body ``PASSES`` times."""
    encoding = EventEncoding(SOURCE, origin=backfill(FEED_START, NOW))
    alive: collections.deque[object] = collections.deque(maxlen=in_flight)
    started = time.process_time()
    for _ in range(PASSES):
        for body in bodies:
            page = decode_page(body, requested_count=200, duration_s=0.0)
            parsed = parse_page(page.sessions)  # type: ignore[union-attr]
            plan = plan_page(parsed, {}, feed_start=FEED_START, now=NOW, previous_updated_at=None)
            alive.append(
                (page, plan, page_records(plan, encoding=encoding, topics=TOPICS, received_at=NOW))
            )
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", type=Path, help="pages saved by bench/core_stages.py --save")
    parser.add_argument("--in-flight", default="1,8")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    bodies = [text.encode() for text in orjson.loads(args.pages.read_bytes())]
    sessions = PASSES * sum(len(orjson.loads(body)["data"]) for body in bodies)
    gc.freeze()
    print(f"{'pages in flight':>15} {'collector':>9} {'µs/session':>10}")
    for in_flight in (int(n) for n in args.in_flight.split(",")):
        for _ in range(args.repeats):
            for collector in ("on", "off"):
                if collector == "off":
                    gc.disable()
                cpu_s = run_core(bodies, in_flight)
                gc.enable()
                gc.collect()
                print(f"{in_flight:>15} {collector:>9} {cpu_s * 1e6 / sessions:10.1f}")


if __name__ == "__main__":
    main()
