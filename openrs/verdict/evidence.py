"""What a verdict compares: a run folder, an MLflow run or an openrs-evaluate folder, read as scores by step."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import yaml

from openrs.config.job import JobConfig, SelectionConfig
from openrs.run_folder import JOB_FILE, eval_dir, evaluated_steps
from openrs.selection.degradation import load_run
from openrs.tracking.metadata import EVAL_METRIC_PREFIX, eval_metric
from openrs.verdict.comparison import Score


@dataclass
class Evaluated:
    what: str
    """What was read, for messages: `run folder PATH`, `MLflow run ID`, `openrs-evaluate folder PATH`."""
    model: str
    """The model, as the job named it."""
    paper_model: str | None
    """The hub id of the model when it is that model's own weights (not openrs's tiny or a scaled-down copy)."""
    protocol: str | None
    """eval.protocol the scores were graded with (`paper` or `openrs`)."""
    experiment: str | None
    """The job's name (exp1, exp2, exp3 for the paper presets), also for an evaluation of one of its checkpoints;
    None for an evaluation of a model that no run here trained."""
    steps: dict[int | None, dict[str, Score]]
    """Step (None: one evaluation of a model) -> benchmark -> pass@1."""
    per_problem: dict | None
    """openrs.selection.degradation results (step -> (benchmark, id) -> (correct, samples)) where kept."""
    selection: SelectionConfig | None
    """The job's detector settings, for its curve."""
    folder: Path | None
    """Where the scores came from on disk, if anywhere."""


def read(target: str, tracking_uri: str | None = None) -> Evaluated:
    """A run folder (it holds job.yaml), an openrs-evaluate folder (summary.csv), or else an MLflow run id."""
    path = Path(target)
    if (path / JOB_FILE).is_file():
        return _run_folder(path)
    if (path / "summary.csv").is_file():
        return _evaluate_folder(path)
    if path.exists():
        raise ValueError(f"{target} holds neither {JOB_FILE} (a run folder) nor summary.csv (an openrs-evaluate "
                         "folder)")  # fmt: skip
    return _mlflow_run(target, tracking_uri)


def _paper_model(model: dict) -> str | None:
    return model["name_or_path"] if model.get("scaled") is None and model["name_or_path"] != "tiny" else None


def _describe(model: dict) -> str:
    if model["name_or_path"] == "tiny":
        return "openrs's tiny model"
    if model.get("scaled") is not None:
        return f"{model['name_or_path']} scaled down (model.scaled, random weights)"
    return model["name_or_path"]


def _run_folder(path: Path) -> Evaluated:
    job = JobConfig.model_validate(yaml.safe_load((path / JOB_FILE).read_text()))
    model = job.model.model_dump()
    steps = {step: _summary(summary) for step, summary in evaluated_steps(eval_dir(path), "summary.csv")}
    return Evaluated(f"run folder {path}", _describe(model), _paper_model(model), job.eval.protocol, job.name, steps,
                     load_run(eval_dir(path)), job.selection, path)  # fmt: skip


def _evaluate_folder(path: Path) -> Evaluated:
    rows = list(csv.DictReader((path / "summary.csv").open()))
    model, protocol = rows[0]["model"], rows[0]["protocol"] or None
    # A checkpoint of a run folder (RUN/checkpoint-50, RUN/final) was trained from that run's model.
    run = Path(model).parent
    if (run / JOB_FILE).is_file():
        trained = _run_folder(run)
        return Evaluated(f"openrs-evaluate folder {path}", f"{model} ({trained.model})", trained.paper_model, protocol,
                         trained.experiment, {None: _summary(path / "summary.csv")}, None, None, path)  # fmt: skip
    return Evaluated(f"openrs-evaluate folder {path}", model, None if model == "tiny" else model, protocol, None,
                     {None: _summary(path / "summary.csv")}, None, None, path)  # fmt: skip


def _summary(path: Path) -> dict[str, Score]:
    rows = csv.DictReader(path.open())
    return {
        r["benchmark"]: Score(float(r["pass@1"]), float(r["low"]), float(r["high"]))
        for r in rows
        if r["benchmark"] != "average"
    }


def _mlflow_run(run_id: str, tracking_uri: str | None) -> Evaluated:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as err:
        raise ValueError(f"{run_id} is not a folder here, nor a run in the MLflow store {tracking_uri}: "
                         f"{err.message}") from None  # fmt: skip
    params = run.data.params
    scaled = params.get("model.scaled")  # MLflow params are strings: a null was logged as "None"
    model = {"name_or_path": params.get("model.name_or_path", "?"), "scaled": None if scaled == "None" else scaled}
    prefix, steps = EVAL_METRIC_PREFIX, {}
    for key in run.data.metrics:
        if key.startswith(prefix) and key.endswith("/pass_at_1"):
            name = key[len(prefix) : -len("/pass_at_1")]
            if name == "average":
                continue
            bounds = {}
            for b in ("low", "high"):
                history = client.get_metric_history(run_id, eval_metric(name, f"pass_at_1_{b}"))
                bounds[b] = {m.step: m.value for m in history}
            for m in client.get_metric_history(run_id, key):
                if m.step in bounds["low"] and m.step in bounds["high"]:
                    steps.setdefault(m.step, {})[name] = Score(m.value, bounds["low"][m.step], bounds["high"][m.step])
    selection = None
    if "selection.alpha" in params:
        selection = SelectionConfig.model_validate(
            {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith("selection.")}
        )
    return Evaluated(f"MLflow run {run_id}", _describe(model), _paper_model(model), params.get("eval.protocol"),
                     params.get("name"), steps, None, selection, None)  # fmt: skip
