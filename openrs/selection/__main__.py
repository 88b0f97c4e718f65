"""`openrs-select OUTPUT_DIR | RUN_ID [--tracking-uri URI]` (or `python -m openrs.selection`): select the checkpoint
of a job's output folder, or of a tracked run, again (openrs.selection.checkpoint)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from openrs.run_folder import JOB_FILE
from openrs.selection.checkpoint import select
from openrs.tracking.store import default_tracking_uri, store_uri


def run_dir_of(run_id: str, tracking_uri: str) -> Path:
    """The output folder of a tracked run (its openrs.output_dir tag)."""
    from mlflow import MlflowClient

    tags = MlflowClient(tracking_uri).get_run(run_id).data.tags
    if "openrs.output_dir" not in tags:
        raise SystemExit(f"openrs: run {run_id} has no openrs.output_dir tag: it was not logged by an openrs job")
    return Path(tags["openrs.output_dir"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="openrs-select", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a job's output folder, or an MLflow run id")
    parser.add_argument("--tracking-uri", default=None, help="store of the run id (default: tracking=sqlite's)")
    args = parser.parse_args(argv)
    run_dir = Path(args.run)
    if not (run_dir / JOB_FILE).is_file():
        run_dir = run_dir_of(args.run, store_uri(args.tracking_uri or default_tracking_uri()))
    if select(run_dir, holds_folder=False) is None:
        sys.exit(1)


if __name__ == "__main__":
    main()
