"""`openrs-tracking replay OUTPUT_DIR` (or `python -m openrs.tracking replay`): upload what a job's journal holds
and its MLflow run lacks, after an outage of the tracking store (openrs.tracking.run_log)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from openrs.run_folder import RUN_FILE
from openrs.tracking.run_log import RunLog


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="openrs-tracking", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("replay", help="upload a job's journal to its MLflow run").add_argument("output_dir", type=Path)
    args = parser.parse_args(argv)
    if not (args.output_dir / RUN_FILE).is_file():
        sys.exit(f"openrs: {args.output_dir} has no {RUN_FILE}: not the output folder of a tracked job")
    try:
        count = RunLog(args.output_dir).replay()
    except RuntimeError as err:
        sys.exit(f"openrs: {err}")
    print(f"openrs: replayed {count} journal records into the run; nothing it already held was logged twice")


if __name__ == "__main__":
    main()
