"""The tracking commands.

`openrs-tracking replay OUTPUT_DIR | paper [--tracking-uri URI] [--experiment NAME]` (or `python -m
openrs.tracking`): upload what a job's journal holds and its MLflow run lacks, after an outage of the tracking
store (openrs.tracking.run_log); log the paper's per-checkpoint curves as runs (openrs.verdict.paper_runs).

`openrs-report EXPERIMENT | RUN_ID [--tracking-uri URI]`: compare runs in a table with one row per run: its
selection (best score with the 95% interval, best step, onset of degradation), its cost (GPU-hours, USD) and
status. The argument is an experiment name (all its runs), a sweep's parent run id (its jobs) or one run id
(openrs.tracking.run_table)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from openrs.base.errors import ConfigError
from openrs.base.redaction import redact
from openrs.data.files import quoted
from openrs.run_folder import JOURNAL, RUN_FILE, claim
from openrs.tracking.run_log import RunLog
from openrs.tracking.store import default_tracking_uri, existing_store, store_lock, store_uri
from openrs.verdict.paper_runs import log_paper_runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="openrs-tracking", description=__doc__.split("\n\n")[1].split(":")[1])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("replay", help="upload a job's journal to its MLflow run").add_argument("output_dir", type=Path)
    reference = sub.add_parser("paper", help="log the paper's per-checkpoint curves as MLflow runs")
    reference.add_argument("--tracking-uri", help="the store (default: tracking=sqlite's)")
    reference.add_argument("--experiment", help="one experiment for all three runs (default: exp1, exp2, exp3, where "
                           "openrs logs those presets' jobs)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.command == "paper":
        uri = store_uri(args.tracking_uri or default_tracking_uri())
        # One command at a time per SQLite store: a new store's tables are created once, and a second command finds
        # the first's runs instead of logging them twice.
        with store_lock(uri):
            runs = log_paper_runs(uri, args.experiment)
        for name, run_id in runs.items():
            print(f"openrs: the paper's {name} is run {run_id} in {redact(uri)}")
        return
    try:
        _check_replayable(args.output_dir)  # before the folder is claimed: nothing is written to a folder refused
        with claim(args.output_dir, "openrs-tracking replay"):  # not while a job (or a replay) writes the journal
            count = RunLog(args.output_dir).replay()
    except ConfigError as err:  # not a tracked job's folder, a corrupt journal, or the folder is in use
        print(f"openrs: {err}", file=sys.stderr)
        sys.exit(2)
    except RuntimeError as err:
        sys.exit(f"openrs: {err}")
    print(f"openrs: replayed {count} journal records into the run; nothing it already held was logged twice")


def _check_replayable(folder: Path) -> None:
    """ConfigError, naming the file and the fix, unless folder holds a tracked job's run file (a JSON object with
    run_id and tracking_uri, as openrs.tracking.run_start writes it) and its journal."""
    run_file = folder / RUN_FILE
    if not run_file.is_file():
        raise ConfigError(f"{folder} has no {RUN_FILE}: not the output folder of a tracked job; give the folder of a "
                          "job that logged to MLflow")  # fmt: skip
    text = run_file.read_text(encoding="utf-8", errors="replace")
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        info = None
    if not isinstance(info, dict) or not all(isinstance(info.get(k), str) for k in ("run_id", "tracking_uri")):
        raise ConfigError(f"{run_file} holds {quoted(text)}, not a JSON object with run_id and tracking_uri: "
                          'write it again as {"tracking_uri": "URI", "run_id": "RUN_ID"} of the job\'s MLflow '
                          "run")  # fmt: skip
    if not (folder / JOURNAL).is_file():
        raise ConfigError(f"{folder} has no {JOURNAL}: its job logged nothing, so there is nothing to replay")
    try:  # a SQLite store that is gone is not created again, empty
        existing_store(info["tracking_uri"])
    except ValueError as err:
        raise ConfigError(f"{run_file} names a store that is not there ({err.args[0].partition(':')[0]}): put the "
                          f"store back, or write its URI into {RUN_FILE}") from None  # fmt: skip


def report(argv: list[str] | None = None) -> None:
    """The `openrs-report` command."""
    from mlflow import MlflowClient

    from openrs.tracking.run_table import markdown, rows, runs_of

    parser = argparse.ArgumentParser(prog="openrs-report", description="Compare runs: one row per run")
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
