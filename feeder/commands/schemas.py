"""``feeder schemas``: write the JSON Schemas of every record feeder publishes and the AsyncAPI
document of its topics, or check them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from feeder.schemas import render_files, stale_files, write_files
from feeder.schemas.asyncapi import ASYNCAPI_FILE, render_asyncapi, stale_asyncapi


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
        stale = stale_files(out_dir) + stale_asyncapi(out_dir)
        for relative in stale:
            print(f"stale: {out_dir / relative}", file=sys.stderr)
        if stale:
            print("run `feeder schemas` and commit the result", file=sys.stderr)
            return 1
        print(f"ok: {out_dir} matches the code")
        return 0
    written = write_files(out_dir, {**render_files(), ASYNCAPI_FILE: render_asyncapi()})
    print(f"wrote {len(written)} files to {out_dir}")
    return 0
