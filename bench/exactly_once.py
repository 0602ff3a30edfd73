"""The long exactly-once crash loop: ``feeder run`` (Kafka checkpoint, exactly-once delivery)
killed with SIGKILL ``--kills`` times at random points under live load, then judged against
the simulator's ground truth by aiokafka and by Apache Kafka's own console consumer, both
``read_committed``. Prints the scenario's line: transitions expected, events seen, lost,
duplicated with the same id, with a new id.

    .venv/bin/python bench/exactly_once.py --kills 50

It runs the suite's test (``tests/faults/test_exactly_once.py``) with more kills; the suite
itself runs 6.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    args = parser.parse_args()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/faults/test_exactly_once.py",
            "-k",
            "kill_9",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env={**os.environ, "FEEDER_EOS_KILLS": str(args.kills)},
        check=False,
    )
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
