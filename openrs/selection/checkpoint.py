"""Which checkpoint to keep, at the end of every job and on demand (`openrs-select`, openrs.selection.__main__).

 The degradation analysis (openrs.selection.degradation) of the step-wise
evaluations in OUTPUT_DIR/eval/ gives the best (highest-scoring) step and the onset of degradation; training-side
precursors (share of completions cut at the length cap, mean length over the cap, KL, non-English share of
the evaluated samples) are reported beside it at each evaluated step. Written to OUTPUT_DIR as
selection.json, selection.md and degradation.png (score by step in the style of the paper's Figure 2), and
for a tracked job into its MLflow run: tags selection.*, metrics best/*, the files and eval reports as
artifacts, and the selected checkpoint as a version of the registered model, whose alias (selection.alias,
`champion`) points at the registered version with the best score among those evaluated alike (openrs.tracking.registry).
`openrs-select` on a folder whose job is still training writes the files only: the job logs and registers at its end.
"""

from __future__ import annotations

import csv
import fcntl
import fnmatch
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from openrs.config.job import EvalConfig, JobConfig, ModelConfig
from openrs.model.card import write_model_card
from openrs.model.loading import model_path
from openrs.run_folder import (
    COMPLETE_MARKER,
    JOB_FILE,
    LOCK_FILE,
    RUN_FILE,
    SELECTION_FIGURE,
    SELECTION_JSON,
    SELECTION_MD,
    checkpoint_dir,
    checkpoint_step,
    checkpoints,
    eval_dir,
    eval_step_dir,
    is_complete,
    newest_checkpoint,
)
from openrs.selection.degradation import Degradation, analyse, load_run
from openrs.tracking.metadata import eval_metric
from openrs.tracking.registry import EVAL_SET_TAG

PRECURSORS = {
    "completions/clipped_ratio": "at length cap",
    "completions/mean_length": "mean length / cap",
    "kl": "KL",
    eval_metric("average", "non_english"): "non-English (eval)",
}


@dataclass
class Selection:
    best_step: int
    """The step with the highest score (the analysis' peak)."""
    best_score: float
    """Score at best_step (mean over benchmarks of the mean pass rate), a fraction, with its 95% interval."""
    best_low: float
    best_high: float
    earliest_tied_step: int
    """The earliest step not significantly below best_step (a more conservative choice, reported only)."""
    onset_step: int | None
    confirmed_at: int | None
    checkpoint_sd: float | None
    """Checkpoint-to-checkpoint standard deviation of the true score the analysis estimated, a fraction."""
    checkpoint: str
    """The selected weights: checkpoint-N of the best step, or the base model when step 0 is best."""
    precursors: dict[int, dict[str, float]]
    """Evaluated step -> precursor name -> value logged at or just before that step."""


def training_history(run_dir: Path) -> list[dict]:
    """The trainer's log history as saved with the newest checkpoint (empty without one)."""
    checkpoint = newest_checkpoint(run_dir)
    return json.loads((checkpoint / COMPLETE_MARKER).read_text())["log_history"] if checkpoint else []


def precursors(history: list[dict], steps: list[int], cap: int) -> dict[int, dict[str, float]]:
    """For each step, the last value of each PRECURSORS metric logged at or before it (mean length as a
    share of the cap `cap`, tokens)."""
    table: dict[int, dict[str, float]] = {}
    for step in steps:
        row: dict[str, float] = {}
        for entry in history:
            if entry.get("step", 0) > step:
                break
            row |= {PRECURSORS[k]: float(v) for k, v in entry.items() if k in PRECURSORS}
        if "mean length / cap" in row:
            row["mean length / cap"] /= cap
        table[step] = row
    return table


def checkpoint_for(run_dir: Path, step: int, model: ModelConfig, save_steps: int) -> str:
    """checkpoint-<step>, the base model for step 0, else the newest checkpoint saved before step (the run saved
    every `save_steps`)."""
    if step == 0:
        return model_path(model)
    exact = checkpoint_dir(run_dir, step)
    if is_complete(exact):
        return str(exact)
    earlier = next((p for p in checkpoints(run_dir) if checkpoint_step(p) < step), None)
    print(f"openrs: no complete checkpoint at the best step {step} (trainer.save_steps={save_steps}); "
          "keeping the newest one before it", file=sys.stderr)  # fmt: skip
    return str(earlier) if earlier else model_path(model)


def plot(run_dir: Path, analysis: Degradation, history_table: dict[int, dict[str, float]], title: str) -> Path:
    """degradation.png: per-benchmark pass@1 by step with 95% intervals (from each step's summary.csv), the
    score the analysis uses (mean over benchmarks), the start level, the best step and the onset; precursors below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, height_ratios=[2, 1])
    curves: dict[str, list[tuple[int, float, float, float]]] = {}
    for s in analysis.scores:
        with open(eval_step_dir(run_dir, s.step) / "summary.csv") as f:
            for row in csv.DictReader(f):
                if row["benchmark"] != "average":
                    point = (s.step, *(100 * float(row[k]) for k in ("pass@1", "low", "high")))
                    curves.setdefault(row["benchmark"], []).append(point)
    steps = [s.step for s in analysis.scores]
    for name, points in curves.items():
        x, y, low, high = zip(*points, strict=True)
        (line,) = top.plot(x, y, marker="o", label=name)
        top.fill_between(x, low, high, color=line.get_color(), alpha=0.15)
        top.axhline(y[0], color=line.get_color(), linestyle=":", linewidth=1)
    pooled = [100 * s.score for s in analysis.scores]
    top.plot(steps, pooled, color="black", linewidth=2, label="score (mean of benchmarks)")
    top.fill_between(steps, [100 * s.low for s in analysis.scores], [100 * s.high for s in analysis.scores],
                     color="black", alpha=0.1)  # fmt: skip
    top.plot([analysis.peak_step], [pooled[steps.index(analysis.peak_step)]], "*", color="gold", markersize=18,
             markeredgecolor="black", label=f"best (step {analysis.peak_step})")  # fmt: skip
    if analysis.onset_step is not None:
        top.axvline(analysis.onset_step, color="red", linestyle="--", label=f"onset (step {analysis.onset_step})")
    top.set_ylabel("pass@1 (%)")
    top.set_title(title)
    top.legend(fontsize=8)
    for name in ("at length cap", "mean length / cap", "non-English (eval)", "KL"):
        values = [(s, row[name]) for s, row in history_table.items() if name in row]
        if values:
            bottom.plot(*zip(*values, strict=True), marker=".", label=name)
    bottom.set_xlabel("step")
    bottom.set_ylabel("precursors")
    if bottom.lines:
        bottom.legend(fontsize=8)
    path = run_dir / SELECTION_FIGURE
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def markdown(s: Selection) -> str:
    onset = f"step {s.onset_step} (confirmed at step {s.confirmed_at})" if s.onset_step is not None else "none"
    lines = [f"best step {s.best_step}: {100 * s.best_score:.1f}% [{100 * s.best_low:.1f}, {100 * s.best_high:.1f}]",
             f"earliest step tied with it: {s.earliest_tied_step}; degradation onset: {onset}",
             *([f"checkpoint-to-checkpoint variation of the true score (estimated): {100 * s.checkpoint_sd:.1f} points"]
               if s.checkpoint_sd is not None else []),
             f"selected: {s.checkpoint}", ""]  # fmt: skip
    names = sorted({k for row in s.precursors.values() for k in row})
    if names:
        lines += ["| step | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for step, row in s.precursors.items():
            lines.append(f"| {step} | " + " | ".join(f"{row[n]:.3g}" if n in row else "" for n in names) + " |")
    return "\n".join(lines) + "\n"


def eval_set(evaluation: EvalConfig) -> str:
    """What a score of this evaluation means, as a short stable string: the benchmarks (sorted) with their samples
    per problem, the protocol and the sampling settings. Scores are comparable only between equal strings."""
    benchmarks = ",".join(f"{b}*{evaluation.samples_for(b)}" for b in sorted(evaluation.benchmarks))
    return (f"{benchmarks} protocol={evaluation.protocol} temperature={evaluation.temperature!r} "
            f"top_p={evaluation.top_p!r} max_new_tokens={evaluation.max_new_tokens}")  # fmt: skip


def in_use_by(run_dir: Path) -> str | None:
    """The process holding run_dir (openrs.run_folder.claim: a job still training there, or a replay), as its lock
    file names it; None when no live process holds it."""
    try:
        lock = open(run_dir / LOCK_FILE)  # noqa: SIM115 - closed below, which also drops the probe's lock
    except FileNotFoundError:
        return None
    with lock:
        try:  # a shared lock is refused only while a holder has its exclusive one; closing the file drops ours
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return lock.read().strip() or "another process"
    return None


def _track(run_dir: Path, job: JobConfig, s: Selection, files: list[Path]) -> None:
    from openrs.tracking.run_log import RunLog

    log = RunLog(run_dir)
    log.set_tags({
        "selection.best_step": s.best_step, "selection.earliest_tied_step": s.earliest_tied_step,
        "selection.onset_step": "none" if s.onset_step is None else s.onset_step, "selection.checkpoint": s.checkpoint,
        EVAL_SET_TAG: eval_set(job.eval),  # the registry compares this version only with versions of the same set
    })  # fmt: skip
    log.log_metrics({"best/score": s.best_score, "best/score_low": s.best_low, "best/score_high": s.best_high,
                     "best/step": s.best_step}, step=s.best_step)  # fmt: skip
    for path in files:
        log.log_artifact(path, "selection")
    log.log_artifact(eval_dir(run_dir), "eval")
    checkpoint = Path(s.checkpoint)
    if not checkpoint.is_dir():
        print(f"openrs: the selected model {s.checkpoint} is no local checkpoint; not registered", file=sys.stderr)
        return
    # The weights go into the run's artifacts and the registry points at them there (runs:/...): an MLflow server
    # refuses a model version whose source is a path on the job's machine.
    artifact = f"checkpoints/{checkpoint.name}"
    write_model_card(job, checkpoint, checkpoint_step(checkpoint))  # the registered model names its base model
    for path in model_files(checkpoint):
        log.log_artifact(path, artifact)
    name = job.tracking.registered_model or job.tracking.experiment or job.name
    log.register_model(name, artifact, s.best_score, job.selection.alias)


# What a checkpoint holds only to resume training: optimizer, scheduler and RNG state; DeepSpeed's shards are in
# global_step*/ folders, which are not taken either.
TRAINING_STATE = ("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state*.pth", "training_args.bin", COMPLETE_MARKER,
                  "latest", "zero_to_fp32.py")  # fmt: skip


def model_files(checkpoint: Path) -> list[Path]:
    """The files of a checkpoint that make the model (weights, config, tokenizer), without the training state."""
    files = [p for p in checkpoint.iterdir() if p.is_file()]
    return sorted(p for p in files if not any(fnmatch.fnmatch(p.name, pattern) for pattern in TRAINING_STATE))


def select(run_dir: Path, *, holds_folder: bool = True) -> Selection | None:
    """Analyse run_dir's step-wise evaluations, write the selection files and, for a tracked job, log them
    to its MLflow run and register the checkpoint; None when the run has no step-wise evaluations. holds_folder:
    the caller is the job that holds run_dir (at its end); an analysis from outside (openrs-select) passes False,
    and then a folder still in use gets the files only, since its job logs and registers its own selection."""
    job = JobConfig.model_validate(yaml.safe_load((run_dir / JOB_FILE).read_text()))
    results = load_run(eval_dir(run_dir))
    if not results:
        print(f"openrs: {eval_dir(run_dir)} holds no step-wise evaluations; nothing to select", file=sys.stderr)
        return None
    analysis = analyse(results, **job.degradation_levels())
    best = next(s for s in analysis.scores if s.step == analysis.peak_step)
    table = precursors(training_history(run_dir), [s.step for s in analysis.scores], job.length.max_completion_length)
    checkpoint = checkpoint_for(run_dir, best.step, job.model, job.trainer.save_steps)
    selection = Selection(best.step, best.score, best.low, best.high, analysis.earliest_tied_step, analysis.onset_step,
                          analysis.confirmed_at, analysis.checkpoint_sd, checkpoint, table)  # fmt: skip
    (run_dir / SELECTION_JSON).write_text(json.dumps(asdict(selection), indent=1))
    (run_dir / SELECTION_MD).write_text(markdown(selection))
    figure = plot(run_dir, analysis, table, f"{job.name}: {run_dir.name}")
    print(markdown(selection), file=sys.stderr)
    if not (run_dir / RUN_FILE).is_file():
        return selection
    # Not while the job goes on: its champion would be a checkpoint of a run that may still degrade, and the
    # journal is the job's to write.
    if not holds_folder and (holder := in_use_by(run_dir)) is not None:
        print(f"openrs: {run_dir} is still training ({LOCK_FILE} held by {holder}): selected, not logged to MLflow or "
              "registered; run openrs-select again when it ends", file=sys.stderr)  # fmt: skip
        return selection
    _track(run_dir, job, selection, [run_dir / SELECTION_JSON, run_dir / SELECTION_MD, figure])
    return selection


