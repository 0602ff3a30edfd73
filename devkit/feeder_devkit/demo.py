"""``feeder demo``: everything local in one command — a Kafka broker, the Oasis API simulator
with a busy store, and the feed — printing a few events of each type as they arrive.

Ctrl-C stops the feed gracefully, then the simulator and the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections import Counter
from typing import TextIO

import orjson
from aiokafka import AIOKafkaConsumer

from feeder.commands.tailed_records import TopicKind, decode, format_line
from feeder.observability.logs import configure_logging
from feeder.runtime.feed import FeedApp
from feeder.settings import FeederSettings
from feeder_devkit.localkafka import BrokerStartError, LocalKafkaBroker
from feeder_devkit.localkafka.broker import free_port
from feeder_devkit.localkafka.jars import JarFetchError
from feeder_devkit.simulator.server import run_simulator
from feeder_devkit.simulator.settings import SimulatorSettings

_SUMMARY_EVERY_S = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kafka-port",
        type=int,
        default=0,
        help="port of the local Kafka broker (default: any free port)",
    )
    parser.add_argument(
        "--api-port",
        type=int,
        default=8080,
        help="port of the simulated Oasis API (default %(default)s)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=9464,
        help="port of /metrics, /healthz, /readyz (default %(default)s)",
    )
    parser.add_argument(
        "--show",
        type=int,
        default=2,
        help="events of each type to print in full (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the simulated traffic")


def demo_settings(api_url: str, token: str, bootstrap: str, metrics_port: int) -> FeederSettings:
    return FeederSettings.model_validate(
        {
            "api": {"base_url": api_url, "token": token},
            "sweep": {"start_position": "earliest", "lookback_s": 30},
            "kafka": {"bootstrap_servers": bootstrap},
            "checkpoint": {"backend": "memory"},
            "observability": {"port": metrics_port},
        }
    )


def busy_simulator(port: int, seed: int | None) -> SimulatorSettings:
    return SimulatorSettings.model_validate(
        {
            "server": {"port": port},
            "traffic": {
                "seed": seed,
                "stores": 5,
                "new_sessions_per_s": 3,
                "speedup": 60,
                "fraud_share": 0.1,
            },
        }
    )


async def show_events(
    bootstrap: str, topic: str, per_type: int, out: TextIO, stopping: asyncio.Event
) -> None:
    """Pretty-print the first ``per_type`` events of each type; count the rest."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    next_summary = loop.time() + _SUMMARY_EVERY_S
    try:
        while not stopping.is_set():
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                for message in batch:
                    record = decode(TopicKind.EVENTS, message)
                    event_type = record.event_type or "?"
                    seen[event_type] += 1
                    if seen[event_type] <= per_type:
                        print(format_line(record), file=out)
                        print(
                            orjson.dumps(record.value, option=orjson.OPT_INDENT_2).decode(),
                            file=out,
                        )
            if loop.time() >= next_summary:
                next_summary += _SUMMARY_EVERY_S
                counts = ", ".join(f"{name} {count}" for name, count in sorted(seen.items()))
                print(f"-- events so far: {counts or 'none yet'}", file=out, flush=True)
    finally:
        await consumer.stop()


async def _demo(args: argparse.Namespace, bootstrap: str) -> None:
    async with run_simulator(busy_simulator(args.api_port, args.seed)) as sim:
        settings = demo_settings(sim.base_url, sim.token, bootstrap, args.metrics_port)
        app = FeedApp(settings)
        feed = asyncio.create_task(app.run())
        await asyncio.wait(
            {feed, asyncio.create_task(app.started.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        if feed.done():
            feed.result()
        print(
            f"Oasis API simulator: {sim.base_url} (token {sim.token})\n"
            f"Kafka: {bootstrap}, topics {settings.kafka.topics.events}, "
            f"{settings.kafka.topics.fraud}, {settings.kafka.topics.state}, "
            f"{settings.kafka.topics.dead_letter}\n"
            f"metrics: http://127.0.0.1:{app.metrics_port}/metrics (also /healthz, /readyz)\n"
            f"events appear below as the simulated store changes; Ctrl-C stops everything",
            flush=True,
        )
        printer = asyncio.create_task(
            show_events(
                bootstrap, settings.kafka.topics.events, args.show, sys.stdout, app.stopping
            )
        )
        try:
            await feed
        finally:
            app.stopping.set()
            with contextlib.suppress(asyncio.CancelledError):
                await printer


def run(args: argparse.Namespace) -> int:
    configure_logging("text", "WARNING")
    # aiokafka logs leader elections of the freshly created topics as errors; the feed reports
    # its own failures.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    port = args.kafka_port or free_port()
    try:
        with LocalKafkaBroker(port=port) as broker:
            print(
                f"Kafka {broker.version} ready at {broker.bootstrap_servers} "
                f"(started in {broker.startup_s:.1f} s)",
                flush=True,
            )
            asyncio.run(_demo(args, broker.bootstrap_servers))
    except (BrokerStartError, JarFetchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    print("demo stopped", flush=True)
    return 0
