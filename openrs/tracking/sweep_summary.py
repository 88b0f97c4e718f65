"""The comparison a tracked sweep ends with (Hydra callback, conf/config.yaml).

After each job of a multirun, the sweep's parent MLflow run (openrs.tracking) receives sweep_summary.md and .csv, one
row per job (its run name holds its overrides; best score with the 95% interval, best step, onset, hours,
GPU-hours, USD, status, and the error of a failed job), and sweep_curves.png, the jobs' step-wise scores
overlaid. Jobs that failed before their run was opened (an invalid override) are listed from the sweep
folder. The files are also written to the sweep folder. A seed study (openrs.tracking.seed_study) starts with a line
saying how many seeds and what one costs in steps; its summary adds sweep_study.csv, the mean over the seeds by
benchmark and step with its interval, and its sweep_curves.png draws that mean with its band over each seed.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import re
import sys
from pathlib import Path

import yaml
from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from openrs.run_folder import ERROR_FILE, FINAL_DIR, HYDRA_DIR, PARENT_FILE, RUN_FILE
from openrs.tracking import seed_study
from openrs.tracking.metadata import EVAL_METRIC_PREFIX, SWEEP_TAG, distinctive, eval_metric
from openrs.tracking.run_table import COLUMNS, jobs, markdown, rows
from openrs.tracking.store import store_uri

CURVE_KEY = eval_metric("average", "pass_at_1")


def summary(client, parent_id: str, sweep_dir: Path) -> tuple[list[dict], list]:
    """Rows of the sweep's jobs (run_table.rows plus `error`), then the MLflow runs behind them. A job folder
    without a run is listed only once it failed (error.txt): jobs side by side may not have opened theirs yet."""
    runs = jobs(client, parent_id)
    table = [row | {"error": run.data.tags.get("openrs.error", "")} for row, run in zip(rows(runs), runs, strict=True)]
    for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()):
        overrides = job / HYDRA_DIR / "overrides.yaml"
        if not (job / RUN_FILE).is_file() and (job / ERROR_FILE).is_file():
            words = distinctive(yaml.safe_load(overrides.read_text())) if overrides.is_file() else ""
            name = f"job {job.name}: {words}"
            error = f"failed before its run opened: {(job / ERROR_FILE).read_text()}".strip()
            table.append(dict.fromkeys([*COLUMNS, "error"], "") | {"run": name, "status": "FAILED", "error": error})
    return table, runs


def load_sweep(sweep: str | Path, tracking_uri: str | None = None) -> tuple:
    """(MLflow client, the sweep's job runs oldest first) for a sweep folder, whose mlflow_parent.json names
    the store and the parent run, or for a parent run id (32 hex digits) in the store at tracking_uri."""
    from mlflow import MlflowClient

    parent_file = Path(sweep) / PARENT_FILE
    if parent_file.is_file():
        parent = json.loads(parent_file.read_text())
        client = MlflowClient(parent["tracking_uri"])
        return client, jobs(client, parent["run_id"])
    if not re.fullmatch(r"[0-9a-f]{32}", str(sweep)):
        raise ValueError(f"{sweep} has no {PARENT_FILE}: not the folder of a tracked sweep (a relative path is "
                         f"taken from {Path.cwd()}), nor a parent run id")  # fmt: skip
    if tracking_uri is None:
        raise ValueError(f"run id {sweep}: say which MLflow store holds it (tracking_uri, MLFLOW_TRACKING_URI)")
    client = MlflowClient(tracking_uri)
    return client, jobs(client, str(sweep))


def labels(runs: list) -> tuple[list[str], str]:
    """Each run's name without the words all share (what sets its job apart), then those shared words."""
    names = [run.info.run_name.split() for run in runs]
    if not names:
        return [], ""
    shared = set.intersection(*map(set, names))
    return [" ".join(t for t in n if t not in shared) for n in names], " ".join(t for t in names[0] if t in shared)


def overlay(client, runs: list, path: Path) -> Path:
    """sweep_curves.png: each job's step-wise score (benchmark/average/pass_at_1, else its only benchmark) by step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    names, shared = labels(runs)
    for run, name in zip(runs, names, strict=True):
        keys = [CURVE_KEY] if CURVE_KEY in run.data.metrics else sorted(
            k for k in run.data.metrics if k.startswith(EVAL_METRIC_PREFIX) and k.endswith("/pass_at_1")
        )[:1]  # fmt: skip
        for key in keys:
            points = sorted((m.step, 100 * m.value) for m in client.get_metric_history(run.info.run_id, key))
            ax.plot(*zip(*points, strict=True), marker="o", label=name or None)
    ax.set_xlabel("step")
    ax.set_ylabel("pass@1 (%)")
    ax.set_title(f"step-wise evaluation by job: {shared}")
    if any(names) and ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_summary(sweep_dir: Path, final: bool) -> None:
    """Write the comparison of a tracked sweep's jobs to its folder and its parent run, and close the parent:
    FAILED once a job failed, FINISHED when final and all succeeded. Jobs side by side call this as each ends:
    one at a time (a lock file), each file replaced whole."""
    if not (sweep_dir / PARENT_FILE).is_file():
        return  # not tracked
    from mlflow import MlflowClient

    parent = json.loads((sweep_dir / PARENT_FILE).read_text())
    client = MlflowClient(parent["tracking_uri"])
    try:
        with open(sweep_dir / "sweep_summary.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            table, runs = summary(client, parent["run_id"], sweep_dir)
            study = seed_study.curves(client, runs) if seed_study.is_study(runs) else None
            text, written = markdown(table), ["sweep_summary.md", "sweep_summary.csv", "sweep_curves.png"]
            if study is not None:
                client.set_tag(parent["run_id"], seed_study.STUDY_TAG, seed_study.STUDY)
                study_rows = seed_study.rows(study)
                text += f"\nOver the seeds:\n\n{seed_study.markdown(study_rows)}"
                with _replacing(sweep_dir / "sweep_study.csv") as path:
                    seed_study.write_table(study_rows, path)
                written.append("sweep_study.csv")
            with _replacing(sweep_dir / "sweep_summary.md") as path:
                path.write_text(text)
            with _replacing(sweep_dir / "sweep_summary.csv") as path, open(path, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=[*COLUMNS, "error"])
                writer.writeheader()
                writer.writerows(table)
            with _replacing(sweep_dir / "sweep_curves.png") as path:
                if study is None:
                    overlay(client, runs, path)
                else:
                    seed_study.figure(study, labels(runs)[1], path)
            for name in written:
                client.log_artifact(parent["run_id"], str(sweep_dir / name))
            if any(row["status"] == "FAILED" for row in table):
                client.set_terminated(parent["run_id"], "FAILED")
            elif final:
                client.set_terminated(parent["run_id"], "FINISHED")
    except Exception as err:  # noqa: BLE001 - the jobs' own runs are complete; only the summary is missing
        print(f"openrs: the sweep summary could not be written ({err})", file=sys.stderr)
        return
    if final:
        print(f"openrs: sweep summary (also in {sweep_dir}):\n{text}", file=sys.stderr)


@contextlib.contextmanager
def _replacing(path: Path):
    """A temporary path to write, moved over `path` when done: a reader never sees half a file."""
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    yield tmp
    os.replace(tmp, path)


def close_dead_runs(tracking_uri: str, filter_string: str, error: str) -> int:
    """Mark FAILED, with `error`, the RUNNING runs matching an MLflow filter whose job process died without
    closing them (killed, out of memory, its sweeper stopped), and rewrite their sweeps' summaries; return how
    many there were."""
    from mlflow import MlflowClient

    client = MlflowClient(store_uri(tracking_uri))
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, f"{filter_string} and attributes.status = 'RUNNING'") if experiments else []
    for run in runs:
        client.set_tag(run.info.run_id, "openrs.error", error[:5000])
        client.set_terminated(run.info.run_id, "FAILED")
        if parent := run.data.tags.get("mlflow.parentRunId"):
            if sweep_dir := client.get_run(parent).data.tags.get(SWEEP_TAG):
                write_summary(Path(sweep_dir), final=False)
    return len(runs)


class SweepSummary(Callback):
    """Says what a seed study will run (seed_study.plan); rewrites the comparison after every job of a tracked sweep
    (Hydra stops before on_multirun_end when a job failed), and closes the parent run (write_summary)."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if (line := seed_study.plan(config)) is not None:
            print(line, flush=True)

    def on_job_end(self, config: DictConfig, job_return=None, **kwargs) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        folder = Path(config.hydra.runtime.output_dir)
        # Never into a finished run's folder (a refused rerun of it): its error is the sweep's, not the run's.
        if job_return is not None and job_return.status == JobStatus.FAILED and not (folder / FINAL_DIR).exists():
            error = job_return._return_value
            (folder / ERROR_FILE).write_text(f"{type(error).__name__}: {error}"[:2000])
        write_summary(Path(config.hydra.sweep.dir), final=False)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        write_summary(Path(config.hydra.sweep.dir), final=True)
