"""Compare runs: `openrs-report EXPERIMENT | RUN_ID [--tracking-uri URI]` (or `python -m openrs.report`).

A table with one row per run: its selection (best score with the 95% interval, best step, onset of
degradation), its cost (GPU-hours, USD) and status. The argument is an experiment name (all its runs), a
sweep's parent run id (its jobs) or one run id.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> None:
    from mlflow import MlflowClient

    from openrs.tracking.comparison import markdown, rows, runs_of
    from openrs.tracking.run_log import default_tracking_uri, store_uri

    parser = argparse.ArgumentParser(prog="openrs-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="experiment name, sweep parent run id, or run id")
    parser.add_argument("--tracking-uri", default=None, help="MLflow store (default: tracking=sqlite's)")
    args = parser.parse_args(argv)
    client = MlflowClient(store_uri(args.tracking_uri or default_tracking_uri()))
    try:
        runs = runs_of(client, args.target)
    except ValueError as err:
        sys.exit(f"openrs: {err}")
    print(markdown(rows(runs)), end="")


if __name__ == "__main__":
    main()
