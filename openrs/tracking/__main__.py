"""`openrs-tracking replay OUTPUT_DIR | paper [--tracking-uri URI] [--experiment NAME]` (or `python -m
openrs.tracking`): upload what a job's journal holds and its MLflow run lacks, after an outage of the tracking
store (openrs.tracking.run_log); log the paper's per-checkpoint curves as runs (openrs.tracking.paper_runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from openrs.config.errors import ConfigError
from openrs.run_folder import RUN_FILE, claim
from openrs.tracking.paper_runs import log_paper_runs
from openrs.tracking.run_log import RunLog, default_tracking_uri, store_uri


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="openrs-tracking", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("replay", help="upload a job's journal to its MLflow run").add_argument("output_dir", type=Path)
    reference = sub.add_parser("paper", help="log the paper's per-checkpoint curves as MLflow runs")
    reference.add_argument("--tracking-uri", help="the store (default: tracking=sqlite's)")
    reference.add_argument("--experiment", help="one experiment for all three runs (default: exp1, exp2, exp3, where "
                           "openrs logs those presets' jobs)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.command == "paper":
        uri = store_uri(args.tracking_uri or default_tracking_uri())
        for name, run_id in log_paper_runs(uri, args.experiment).items():
            print(f"openrs: the paper's {name} is run {run_id} in {uri}")
        return
    if not (args.output_dir / RUN_FILE).is_file():
        sys.exit(f"openrs: {args.output_dir} has no {RUN_FILE}: not the output folder of a tracked job")
    try:
        with claim(args.output_dir, "openrs-tracking replay"):  # not while a job (or a replay) writes the journal
            count = RunLog(args.output_dir).replay()
    except ConfigError as err:  # the folder is in use
        print(f"openrs: {err}", file=sys.stderr)
        sys.exit(2)
    except RuntimeError as err:
        sys.exit(f"openrs: {err}")
    print(f"openrs: replayed {count} journal records into the run; nothing it already held was logged twice")


if __name__ == "__main__":
    main()
