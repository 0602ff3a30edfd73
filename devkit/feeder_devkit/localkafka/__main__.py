"""``python -m feeder_devkit.localkafka``: run a local broker in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from feeder_devkit.localkafka.broker import (
    DEFAULT_KAFKA_VERSION,
    BrokerStartError,
    LocalKafkaBroker,
)
from feeder_devkit.localkafka.jars import JarFetchError, broker_classpath


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deploy/local/kafka",
        description="Run a single-node Apache Kafka (KRaft) broker on 127.0.0.1 without Docker.",
    )
    parser.add_argument(
        "command",
        choices=["run", "fetch"],
        nargs="?",
        default="run",
        help="run: start and wait for Ctrl-C (default); fetch: only cache jars",
    )
    parser.add_argument(
        "--version",
        default=DEFAULT_KAFKA_VERSION,
        help="Apache Kafka version from Maven Central (default %(default)s)",
    )
    parser.add_argument("--port", type=int, default=9092, help="client port (default 9092)")
    parser.add_argument(
        "--controller-port", type=int, default=9093, help="KRaft controller port (default 9093)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep data here across runs (default: a temporary folder)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(f"broker jars cached in {broker_classpath(args.version)}", flush=True)
            return 0
        return _run(args)
    except (BrokerStartError, JarFetchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with LocalKafkaBroker(
        version=args.version,
        port=args.port,
        controller_port=args.controller_port,
        data_dir=args.data_dir,
    ) as broker:
        print(
            f"Kafka {broker.version} ready at {broker.bootstrap_servers} "
            f"(started in {broker.startup_s:.1f} s); Ctrl-C stops it",
            flush=True,
        )
        stop.wait()
        print("stopping the broker", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
