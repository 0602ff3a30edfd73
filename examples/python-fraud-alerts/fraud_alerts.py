"""Quickstart: alert on suspected fraud from feeder's fraud topic (aiokafka).

    pip install 'aiokafka>=0.14'
    python fraud_alerts.py --bootstrap-servers kafka:9092 [--topic oasis.sessions.fraud]

What a production consumer of the feed should do, in 150 lines:

- **Commit after handling.** Auto-commit is off; a batch's offsets are committed only once
  every alert in it was raised, so a crash re-reads (never skips) what was not handled.
- **Dedupe by event id.** feeder delivers at least once: a re-sent event has the same id.
  Recent ids are remembered here (in memory; keep them in your own store to dedupe across
  restarts, e.g. as a unique key of the alerts table).
- **read_committed.** Only what a transactional (exactly-once) feed committed is read; with
  the default at-least-once feed it reads the same.
- **Either content mode.** A record with a ``ce_specversion`` header is a binary-mode
  CloudEvent (attributes in ``ce_*`` headers, the value is ``data``); otherwise the value is
  the whole structured CloudEvent JSON.

``--exit-at-end`` stops once the records that were in the topic at start are handled (for
tests and one-off runs); without it the consumer follows the topic until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

FRAUD_TYPE = "session.suspected_fraud_changed"
REMEMBERED_IDS = 100_000


@dataclass(frozen=True)
class CloudEvent:
    id: str
    type: str
    subject: str | None
    time: str | None
    storeid: str | None
    data: Any


def cloud_event(record: ConsumerRecord[bytes, bytes]) -> CloudEvent:
    """The CloudEvent in a Kafka record, in binary or structured content mode."""
    headers = {name: value.decode() for name, value in record.headers}
    value = None if record.value is None else json.loads(record.value)
    if "ce_specversion" in headers:  # binary: attributes in headers, the value is data
        attributes: dict[str, Any] = {
            name.removeprefix("ce_"): text
            for name, text in headers.items()
            if name.startswith("ce_")
        }
        data = value
    else:  # structured: the value is the whole event
        attributes, data = value, value.get("data")
    return CloudEvent(
        id=attributes["id"],
        type=attributes["type"],
        subject=attributes.get("subject"),
        time=attributes.get("time"),
        storeid=attributes.get("storeid"),
        data=data,
    )


class SeenIds:
    """The last ``capacity`` event ids, to drop re-sent events."""

    def __init__(self, capacity: int) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def add(self, event_id: str) -> bool:
        """False if ``event_id`` was seen already."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True


def raise_alert(event: CloudEvent) -> str:
    """Handle one fraud change; here: print it (page someone, open a ticket, ...)."""
    change = event.data["changed"]["suspectedFraud"]
    what = "flagged" if change["new"] else "cleared"
    line = (
        f"ALERT {what} session={event.subject} store={event.storeid or '-'} "
        f"at={event.time} event={event.id}"
    )
    print(line, flush=True)
    return what


class Assigned(ConsumerRebalanceListener):
    """Set once the group gave this consumer its partitions."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.event.set()


async def end_offsets_once_assigned(
    consumer: AIOKafkaConsumer, assigned: Assigned
) -> dict[TopicPartition, int]:
    """Where the assigned partitions end now (the group is joined in the background)."""
    await asyncio.wait_for(assigned.event.wait(), 60)
    return dict(await consumer.end_offsets(list(consumer.assignment())))


async def reached(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    """True once every partition's position is at ``end``."""
    for partition, offset in end.items():
        if await consumer.position(partition) < offset:
            return False
    return True


async def consume(args: argparse.Namespace) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=args.bootstrap_servers,
        group_id=args.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    assigned = Assigned()
    consumer.subscribe([args.topic], listener=assigned)
    await consumer.start()
    seen = SeenIds(REMEMBERED_IDS)
    counts = {"flagged": 0, "cleared": 0, "duplicates": 0, "other types": 0}
    try:
        end = await end_offsets_once_assigned(consumer, assigned) if args.exit_at_end else None
        while end is None or not await reached(consumer, end):
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    event = cloud_event(record)
                    if event.type != FRAUD_TYPE:
                        counts["other types"] += 1
                    elif not seen.add(event.id):
                        counts["duplicates"] += 1
                    else:
                        counts[raise_alert(event)] += 1
            if batches:
                await consumer.commit()  # everything returned above was handled
    finally:
        await consumer.stop()
        print(
            "handled {flagged} flagged and {cleared} cleared; skipped {duplicates} duplicates "
            "and {other types} other types".format(**counts),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="oasis.sessions.fraud")
    parser.add_argument("--group-id", default="fraud-alerts")
    parser.add_argument(
        "--exit-at-end", action="store_true", help="stop once what was in the topic is handled"
    )
    asyncio.run(consume(parser.parse_args()))


if __name__ == "__main__":
    main()
