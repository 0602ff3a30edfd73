"""``feeder schemas``: write the JSON Schemas of every record feeder publishes and the AsyncAPI
document of its topics, or check them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from feeder.schemas import render_files, stale_files, write_files
from feeder.schemas.asyncapi import ASYNCAPI_FILE, render_asyncapi, stale_asyncapi
from feeder.schemas.compatibility import (
    BASELINE_FILE,
    CHANGELOG_FILE,
    problems_publishing,
    write_baseline,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("schemas"),
        help="folder to write to or check (default %(default)s)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the folder differs from what the code generates or a "
        "schema changed incompatibly without a version bump and a CHANGELOG line",
    )
    mode.add_argument(
        "--update-baseline",
        action="store_true",
        help="record the current schemas as published (refused while --check finds an "
        "incompatible change)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=BASELINE_FILE,
        help="the published schemas to stay compatible with (default %(default)s)",
    )
    parser.add_argument(
        "--changelog",
        type=Path,
        default=CHANGELOG_FILE,
        help="where version bumps are explained (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    out_dir: Path = args.out
    if out_dir.exists() and not out_dir.is_dir():
        print(f"error: --out {out_dir} is not a folder", file=sys.stderr)
        return 2
    if args.update_baseline:
        return _update_baseline(args.baseline, args.changelog)
    if args.check:
        stale = stale_files(out_dir) + stale_asyncapi(out_dir)
        for relative in stale:
            print(f"stale: {out_dir / relative}", file=sys.stderr)
        if stale:
            print("run `feeder schemas` and commit the result", file=sys.stderr)
        problems = problems_publishing(args.baseline, args.changelog)
        for problem in problems:
            print(f"incompatible: {problem}", file=sys.stderr)
        if stale or problems:
            return 1
        print(f"ok: {out_dir} matches the code and stays compatible with {args.baseline}")
        return 0
    written = write_files(out_dir, {**render_files(), ASYNCAPI_FILE: render_asyncapi()})
    print(f"wrote {len(written)} files to {out_dir}")
    return 0


def _update_baseline(baseline: Path, changelog: Path) -> int:
    problems = [] if not baseline.is_file() else problems_publishing(baseline, changelog)
    for problem in problems:
        print(f"incompatible: {problem}", file=sys.stderr)
    if problems:
        return 1
    write_baseline(baseline)
    print(f"wrote {baseline}")
    return 0
