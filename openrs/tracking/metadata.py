"""What a tracked run is called and carries, and where to see it: its name from the command-line overrides,
its params (the flattened config), the git commit, and its page in MLflow's UI."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openrs.base.redaction import redact
from openrs.config.job import JobConfig

# MLflow 3.17's UI shows every experiment in its GenAI view (traces, evaluations) unless the browser chose its
# model-training view (runs, metric charts) once or the link asks for it; the experimentKind tag no longer decides.
UI_VIEW = "workflowType=machine_learning"
# Where `mlflow ui` listens by default, for a store that is a file.
UI_DEFAULT = "http://127.0.0.1:5000"
# The UI groups a run's charts by the metric name up to its last "/" and sorts the groups by name: the step-wise
# evaluations' curves come first with this prefix (before best/, clip_ratio/, completions/, cost/, ...).
EVAL_METRIC_PREFIX = "benchmark/"
# The tag of a sweep's parent run: the sweep folder, whose summary its jobs rewrite (openrs.tracking.sweep_summary).
SWEEP_TAG = "openrs.sweep_dir"


def eval_metric(benchmark: str, statistic: str) -> str:
    """The metric name of a step-wise evaluation statistic, e.g. benchmark/amc23/pass_at_1."""
    return f"{EVAL_METRIC_PREFIX}{benchmark}/{statistic}"


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> {"a.b.c": "value"}; lists as JSON, every value redacted and cut to MLflow's 6,000
    characters."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = redact(json.dumps(value) if isinstance(value, list) else str(value))[:6000]
    return flat


def git_commit() -> str | None:
    """Commit of the openrs checkout this code runs from (None for an installed wheel); + `-dirty` when
    tracked files have uncommitted changes."""
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(repo), "diff", "--quiet", "HEAD"], capture_output=True)
    except OSError:
        return None
    return commit.stdout.strip() + ("-dirty" if dirty.returncode else "") if commit.returncode == 0 else None


def distinctive(overrides: list[str]) -> str:
    """The overrides that tell a job apart from its siblings (not the experiment, output, resume or tracking),
    without Hydra's escapes: `length=l2048 eval.benchmarks=[arithmetic:easy]`."""
    skip = ("+experiment=", "hydra.", "+hydra.", "output_dir=", "resume=", "tracking")
    return " ".join(re.sub(r"\\(.)", r"\1", o) for o in overrides if not o.startswith(skip))


def run_name(job: JobConfig, overrides: list[str]) -> str:
    """The job's name and its distinctive overrides, e.g. `exp2 length=l2048`."""
    return f"{job.name} {distinctive(overrides)}".strip()[:250]


def ui_link(uri: str, experiment_id: str, run_id: str) -> str:
    """The run's charts in MLflow's model-training view: on the tracking server itself, or, for a SQLite store,
    on `mlflow ui --backend-store-uri URI` at its default address."""
    page = f"#/experiments/{experiment_id}/runs/{run_id}/model-metrics?{UI_VIEW}"
    if uri.startswith(("http://", "https://")):
        return f"{redact(uri).rstrip('/')}/{page}"
    return f"{UI_DEFAULT}/{page} (mlflow ui --backend-store-uri {redact(uri)})"
