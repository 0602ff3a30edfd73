"""``feeder schemas``: write the JSON Schemas of every record feeder publishes, or check them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from feeder.schemas import stale_files, write_files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("schemas"),
        help="folder to write to or check (default %(default)s)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the folder differs from what the code generates",
    )


def run(args: argparse.Namespace) -> int:
    out_dir: Path = args.out
    if args.check:
        stale = stale_files(out_dir)
        for relative in stale:
            print(f"stale: {out_dir / relative}", file=sys.stderr)
        if stale:
            print("run `feeder schemas` and commit the result", file=sys.stderr)
            return 1
        print(f"ok: {out_dir} matches the code")
        return 0
    written = write_files(out_dir)
    print(f"wrote {len(written)} files to {out_dir}")
    return 0
