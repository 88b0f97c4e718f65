"""What a verdict compares: a run folder, an MLflow run or an openrs-evaluate folder, read as scores by step."""

from __future__ import annotations

import csv
import math
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from pydantic import ValidationError

from openrs.base.redaction import redact
from openrs.config.job import JobConfig, SelectionConfig
from openrs.run_folder import EVAL_DIR, JOB_FILE, eval_dir, evaluated_steps
from openrs.selection.degradation import load_run
from openrs.tracking.metadata import EVAL_METRIC_PREFIX, SWEEP_TAG, eval_metric
from openrs.tracking.run_table import jobs
from openrs.tracking.store import existing_store, job_client
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
    job: dict | None = None
    """The job's config as its job.yaml holds it (a run folder's), for comparing the runs of a study."""


# An MLflow run id as MLflow makes them: what a target that is no folder here must look like.
_RUN_ID = re.compile(r"[0-9a-f]{32}")
SUMMARY_COLUMNS = ("benchmark", "pass@1", "low", "high")


def read(target: str, tracking_uri: str) -> Evaluated:
    """A run folder (it holds job.yaml), an openrs-evaluate folder (summary.csv), or else an MLflow run id (read from
    tracking_uri, which is only opened for a target that looks like one). ValueError, one line naming the file and
    the fix, for anything that cannot be read as scores: a corrupt job.yaml, summary.csv or per_problem.jsonl, a
    score that is not a finite fraction inside its interval."""
    path = Path(target)
    if (path / JOB_FILE).is_file():
        return _run_folder(path)
    if (path / "summary.csv").is_file():
        return _evaluate_folder(path)
    if path.exists():
        raise ValueError(f"{target} holds neither {JOB_FILE} (a run folder) nor summary.csv (an openrs-evaluate "
                         "folder)")  # fmt: skip
    if not _RUN_ID.fullmatch(target):
        raise ValueError(f"{target[:80]} is no folder here, nor an MLflow run id (32 hex digits)")
    return _mlflow_run(target, existing_store(tracking_uri))


def sweep_run(target: str, tracking_uri: str) -> bool:
    """Whether target is the MLflow run id of a sweep's parent run (whose jobs a study's verdict reads), not a folder
    here; False for anything else, which read() then reads or refuses."""
    if Path(target).exists() or not _RUN_ID.fullmatch(target):
        return False
    try:
        return SWEEP_TAG in job_client(existing_store(tracking_uri)).get_run(target).data.tags
    except Exception:  # noqa: BLE001 - no such run, no store: read() says which, in one line
        return False


def read_study(targets: list[str], tracking_uri: str) -> list[Evaluated]:
    """The runs of a seed study: run folders, sweep folders (each job folder in them that holds job.yaml), read
    as read() reads a run folder, or a sweep's parent run in MLflow (sweep_run), whose jobs' job.yaml and eval/
    artifacts are read the same way. ValueError, one line, for a target that is none of these, or fewer than 2
    runs."""
    if len(targets) == 1 and sweep_run(targets[0], tracking_uri):
        runs = _mlflow_jobs(targets[0], existing_store(tracking_uri))
    else:
        folders = []
        for target in targets:
            path = Path(target)
            jobs = sorted(p for p in path.glob("*") if (p / JOB_FILE).is_file()) if path.is_dir() else []
            if (path / JOB_FILE).is_file():
                folders.append(path)
            elif jobs:
                folders += jobs
            else:
                raise ValueError(f"{target[:200]}: neither a run folder ({JOB_FILE}), nor a sweep folder of run "
                                 "folders, nor a sweep's parent run in MLflow; a study is read from these")  # fmt: skip
        runs = [_run_folder(folder) for folder in folders]
    if len(runs) < 2:
        raise ValueError(f"a study needs 2 runs or more; {', '.join(targets)[:200]} holds {len(runs)}")
    return runs


def _mlflow_jobs(parent_id: str, tracking_uri: str) -> list[Evaluated]:
    """The jobs of a sweep's parent run, each read from its job.yaml and eval/ artifacts (logged when a job ends)."""
    client = job_client(tracking_uri)
    runs = jobs(client, parent_id)
    read = []
    with tempfile.TemporaryDirectory(prefix="openrs-verdict-") as tmp:
        for run in runs:
            folder, run_id = Path(tmp) / run.info.run_id, run.info.run_id
            try:
                for artifact in (JOB_FILE, EVAL_DIR):
                    client.download_artifacts(run_id, artifact, str(folder))
            except Exception:  # noqa: BLE001 - not logged (yet): the job is running, or failed before it ended
                raise ValueError(f"MLflow run {run_id} ({run.info.run_name}, {run.info.status}) holds no {JOB_FILE} "
                                 f"and {EVAL_DIR}/ artifacts, which a job logs when it ends: judge the study when "
                                 "its jobs have ended, or give their run folders") from None  # fmt: skip
            read.append(replace(_run_folder(folder), what=f"MLflow run {run_id}", folder=None))
    return read


def _model_of(model: dict) -> tuple[str, str | None]:
    """(how to name the model, its hub id when the scores are of that model's own weights): one decision for every
    source, whether the job's settings were read nested (job.yaml) or flat (MLflow params)."""
    name = str(model.get("name_or_path"))
    if model.get("tiny") is not None or name == "tiny":
        return "openrs's tiny model", None
    if model.get("scaled") is not None:
        return f"{name} scaled down (model.scaled, random weights)", None
    return name, name


def _run_folder(path: Path) -> Evaluated:
    try:
        job = JobConfig.model_validate(yaml.safe_load((path / JOB_FILE).read_text()))
    except (yaml.YAMLError, ValidationError, UnicodeDecodeError) as err:
        raise ValueError(f"{path / JOB_FILE}: not a job openrs wrote ({str(err).splitlines()[0][:120]}); "
                         "give the run folder as the job left it") from None  # fmt: skip
    described, paper_model = _model_of(job.model.model_dump())
    steps = {step: _summary(summary) for step, summary in evaluated_steps(eval_dir(path), "summary.csv")}
    return Evaluated(f"run folder {path}", described, paper_model, job.eval.protocol, job.name, steps,
                     load_run(eval_dir(path)), job.selection, path, job.model_dump())  # fmt: skip


def _evaluate_folder(path: Path) -> Evaluated:
    rows = _rows(path / "summary.csv", ("model", "protocol"))
    model, protocol = rows[0]["model"], rows[0]["protocol"] or None
    scores = _summary(path / "summary.csv")
    # A checkpoint of a run folder (RUN/checkpoint-50, RUN/final) was trained from that run's model.
    run = Path(model).parent
    if (run / JOB_FILE).is_file():
        trained = _run_folder(run)
        return Evaluated(f"openrs-evaluate folder {path}", f"{model} ({trained.model})", trained.paper_model, protocol,
                         trained.experiment, {None: scores}, None, None, path)  # fmt: skip
    described, paper_model = _model_of({"name_or_path": model})
    return Evaluated(f"openrs-evaluate folder {path}", described, paper_model, protocol, None, {None: scores}, None,
                     None, path)  # fmt: skip


def _rows(path: Path, extra: tuple[str, ...] = ()) -> list[dict]:
    """The rows of a summary.csv; ValueError naming the file when it has none or lacks a column."""
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except (UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{path}: not a summary.csv openrs wrote ({err}); rerun that evaluation") from None
    missing = [c for c in (*SUMMARY_COLUMNS, *extra) if not rows or c not in rows[0]]
    if not rows or missing:
        what = "no rows" if not rows else f"no column {', '.join(missing)}"
        raise ValueError(f"{path}: {what}; a summary.csv holds {', '.join((*SUMMARY_COLUMNS, *extra))}: rerun that "
                         "evaluation")  # fmt: skip
    return rows


def _summary(path: Path) -> dict[str, Score]:
    return {r["benchmark"]: _score(r, f"{path}, {r['benchmark']}") for r in _rows(path) if r["benchmark"] != "average"}


def _score(values: dict, where: str) -> Score:
    """A pass@1 with its interval: finite fractions, low <= pass@1 <= high; ValueError naming `where` otherwise."""
    try:
        value, low, high = (float(values[k]) for k in ("pass@1", "low", "high"))
    except (TypeError, ValueError):
        raise ValueError(f"{where}: pass@1 {values.get('pass@1')!r} with interval {values.get('low')!r}-"
                         f"{values.get('high')!r} is not a number; rerun that evaluation") from None  # fmt: skip
    if not all(math.isfinite(x) and 0 <= x <= 1 for x in (value, low, high)) or not low <= value <= high:
        raise ValueError(f"{where}: pass@1 {value!r} with interval {low!r}-{high!r} is not a fraction inside its "
                         "interval; rerun that evaluation")  # fmt: skip
    return Score(value, low, high)


def _mlflow_run(run_id: str, tracking_uri: str) -> Evaluated:
    try:
        client = job_client(tracking_uri)  # fails within seconds where the store cannot be reached
        run = client.get_run(run_id)
    except Exception as err:  # noqa: BLE001 - no such run, an unreachable server, a broken store: the same refusal
        message = getattr(err, "message", None) or str(err)
        raise ValueError(redact(f"{run_id} is not a folder here, nor a run in the MLflow store {tracking_uri}: "
                                f"{message.splitlines()[0][:200] if message else type(err).__name__}")) from None
    params = run.data.params
    model: dict = {}  # the job's model group from its flattened params (strings; a null was logged as "None")
    for key, value in params.items():
        if key.startswith("model."):
            *parents, leaf = key.removeprefix("model.").split(".")
            node = model
            for part in parents:
                node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
            node[leaf] = None if value == "None" else value
    described, paper_model = _model_of(model)
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
                    values = {"pass@1": m.value, "low": bounds["low"][m.step], "high": bounds["high"][m.step]}
                    steps.setdefault(m.step, {})[name] = _score(values, f"MLflow run {run_id}, {name} at step {m.step}")
    selection = None
    if "selection.alpha" in params:
        selection = SelectionConfig.model_validate(
            {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith("selection.")}
        )
    return Evaluated(f"MLflow run {run_id}", described, paper_model, params.get("eval.protocol"), params.get("name"),
                     steps, None, selection, None)  # fmt: skip
