"""``feeder demo``: everything local in one command (for now: the Kafka broker)."""

from __future__ import annotations

import argparse

from feeder.localkafka.__main__ import main as run_local_kafka


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kafka-port",
        type=int,
        default=9092,
        help="port of the local Kafka broker (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    return run_local_kafka(
        ["run", "--port", str(args.kafka_port), "--controller-port", str(args.kafka_port + 1)]
    )
