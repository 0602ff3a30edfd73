"""``feeder tail``: follow feeder's topics and print each event as it arrives.

Read-only: no consumer group, no committed offsets; every partition of the chosen topics is
assigned explicitly and positioned at the end (or the beginning with ``--from-beginning``)
before the first line is printed. Ctrl-C (or SIGTERM) stops cleanly with exit status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from pydantic import Field, ValidationError

from feeder.commands.settings_loading import validation_problems
from feeder.commands.tailed_records import (
    TailFilter,
    TopicKind,
    decode,
    format_json,
    format_line,
)
from feeder.core.diff import EventType
from feeder.errors import FeederError, SinkUnavailableError
from feeder.kafka.connection import KafkaConnection, kafka_connection
from feeder.kafka.reader import Consumer, KafkaError, assigned_consumer, stop_consumer
from feeder.settings import KafkaSettings, PartialEnvSettings

_POLL_MS = 500


class KafkaOnlySettings(PartialEnvSettings):
    """The Kafka group of feeder's settings, without requiring API credentials."""

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)


@dataclass(frozen=True, slots=True)
class TailOptions:
    kafka: KafkaSettings
    kinds: tuple[TopicKind, ...]
    filter: TailFilter
    from_beginning: bool
    max_records: int | None
    as_json: bool


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-servers",
        help="Kafka to read from (default: FEEDER_KAFKA__BOOTSTRAP_SERVERS or 127.0.0.1:9092)",
    )
    parser.add_argument(
        "--topic",
        dest="kinds",
        action="append",
        choices=[kind.value for kind in TopicKind],
        metavar="TOPIC",
        help="which of feeder's topics (FEEDER_KAFKA__TOPICS__*) to follow, repeatable: "
        "events, fraud, state or dlq (default: events)",
    )
    parser.add_argument(
        "--type",
        dest="types",
        action="append",
        default=[],
        choices=[event_type.value for event_type in EventType],
        metavar="TYPE",
        help="only this event type, repeatable: "
        + ", ".join(event_type.value for event_type in EventType),
    )
    parser.add_argument(
        "--store",
        dest="stores",
        action="append",
        default=[],
        metavar="ID",
        help="only this storeId",
    )
    parser.add_argument(
        "--session",
        dest="sessions",
        action="append",
        default=[],
        metavar="ID",
        help="only this session id",
    )
    parser.add_argument(
        "--from-beginning", action="store_true", help="start at the oldest retained record"
    )
    parser.add_argument(
        "--max", type=int, dest="max_records", metavar="N", help="stop after N records"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document per line")


def options_from_args(args: argparse.Namespace) -> TailOptions:
    kafka = KafkaOnlySettings().kafka
    if args.bootstrap_servers:
        kafka = kafka.model_copy(update={"bootstrap_servers": args.bootstrap_servers})
    return TailOptions(
        kafka=kafka,
        kinds=tuple(TopicKind(kind) for kind in (args.kinds or [TopicKind.EVENTS.value])),
        filter=TailFilter(
            types=frozenset(args.types),
            stores=frozenset(args.stores),
            sessions=frozenset(args.sessions),
        ),
        from_beginning=args.from_beginning,
        max_records=args.max_records,
        as_json=args.json,
    )


async def _positioned_consumer(
    options: TailOptions, connection: KafkaConnection
) -> tuple[Consumer, dict[str, TopicKind]]:
    kinds_by_topic = {kind.topic_name(options.kafka.topics): kind for kind in options.kinds}
    consumer, partitions = await assigned_consumer(connection, list(kinds_by_topic))
    try:
        async with asyncio.timeout(options.kafka.send_timeout_s):
            if options.from_beginning:
                await consumer.seek_to_beginning(*partitions)
            else:
                await consumer.seek_to_end(*partitions)
            for partition in partitions:
                await consumer.position(partition)
    except BaseException:
        await _stop(consumer, options.kafka.send_timeout_s)
        raise
    return consumer, kinds_by_topic


async def _stop(consumer: Consumer, timeout_s: float) -> None:
    await stop_consumer(consumer, timeout_s)


async def tail(
    options: TailOptions,
    out: TextIO,
    stopping: asyncio.Event,
    *,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Print matching records until ``stopping`` is set or ``max_records`` were printed.

    ``on_ready`` is called once every partition is positioned: a record produced after it is
    seen. Returns the number of records printed.
    """
    async with kafka_connection(options.kafka) as connection:
        try:
            consumer, kinds_by_topic = await _positioned_consumer(options, connection)
        except (TimeoutError, KafkaError, OSError) as exc:
            raise SinkUnavailableError(
                f"cannot read from Kafka at {options.kafka.bootstrap_servers} within "
                f"{options.kafka.send_timeout_s} s: {exc!r}; check "
                "FEEDER_KAFKA__BOOTSTRAP_SERVERS"
            ) from exc
        return await _print_records(
            options, consumer, kinds_by_topic, out=out, stopping=stopping, on_ready=on_ready
        )


async def _print_records(
    options: TailOptions,
    consumer: Consumer,
    kinds_by_topic: dict[str, TopicKind],
    *,
    out: TextIO,
    stopping: asyncio.Event,
    on_ready: Callable[[], None] | None,
) -> int:
    printed = 0
    limit = options.max_records
    try:
        if on_ready is not None:
            on_ready()
        while not stopping.is_set() and (limit is None or printed < limit):
            batches = await consumer.getmany(timeout_ms=_POLL_MS)
            for batch in batches.values():
                for message in batch:
                    record = decode(kinds_by_topic[message.topic], message)
                    if not options.filter.matches(record):
                        continue
                    print(format_json(record) if options.as_json else format_line(record), file=out)
                    printed += 1
                    if limit is not None and printed >= limit:
                        break
                if limit is not None and printed >= limit:
                    break
            out.flush()
    finally:
        await _stop(consumer, options.kafka.send_timeout_s)
    return printed


async def _main(options: TailOptions) -> int:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)

    def ready() -> None:
        topics = ", ".join(kind.topic_name(options.kafka.topics) for kind in options.kinds)
        start = "the beginning" if options.from_beginning else "now"
        print(f"tailing {topics} from {start} (Ctrl-C stops)", file=sys.stderr, flush=True)

    try:
        await tail(options, sys.stdout, stopping, on_ready=ready)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        options = options_from_args(args)
    except ValidationError as exc:
        print("error: invalid Kafka settings:", file=sys.stderr)
        for line in validation_problems(exc):
            print(f"  {line}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_main(options))
    except FeederError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`feeder tail | head`): not an error.
        sys.stderr.close()
        return 0
