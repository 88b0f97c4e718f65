"""The run folder: the name of every file a job writes under its output_dir (and a sweep under its sweep
folder), checkpoint discovery and numbering, and the lock that gives the folder to one process at a time.
Modules that read or write one of these take the name from here; a full disk under the folder is recognised
here too.

    OUTPUT_DIR/
      run.lock               held by the job (or replay) writing the folder; names it: process, host, start
      job.yaml               the resolved, validated job (openrs.__main__); launched ranks and selection read it
      mlflow_run.json        the MLflow store and run of a tracked job (openrs.tracking)
      mlflow_journal.jsonl   everything logged to MLflow, written first (openrs.tracking)
      mlflow_journal.RUN_ID.jsonl   the journal of a run that a resumed job replaced (openrs.tracking)
      checkpoint-N/          the trainer's checkpoint after step N; complete once trainer_state.json parses
      eval/step-N/           the step-wise evaluation after step N (openrs.evaluation.stepwise): per_problem.jsonl,
                             summary.csv, report.md
      ranks/                 each launched rank's output (openrs.train.launch)
      slurm_jobs.txt         under SLURM, a line per attempt: job id, array task, restart count, GPUs, host,
                             start (openrs.__main__)
      README.md              the model card (openrs.model.card); final/ and a registered checkpoint have theirs
      final/                 the model after the last step (openrs.train)
      selection.json, selection.md, degradation.png   the checkpoint kept and why (openrs.selection)
      verdict/               the run against the paper (openrs.verdict): verdict.md, .csv, .png, curves.png
      preempted              SIGTERM stopped training after a checkpoint (openrs.train, openrs.train.launch)
      pruned                 the Optuna study pruned the job (openrs.selection.pruning)
      error.txt              a failed job's error, in a sweep (openrs.tracking.sweep_summary)
      .hydra/, __main__.log  Hydra's record of the job: its config, overrides and log
    SWEEP_DIR/mlflow_parent.json   the sweep's parent MLflow run (openrs.tracking)
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

import yaml

from openrs.base.errors import ConfigError

if TYPE_CHECKING:
    from openrs.config.job import JobConfig

LOCK_FILE = "run.lock"
JOB_FILE = "job.yaml"
RUN_FILE = "mlflow_run.json"
JOURNAL = "mlflow_journal.jsonl"
PARENT_FILE = "mlflow_parent.json"
EVAL_DIR = "eval"
RANKS_DIR = "ranks"
FINAL_DIR = "final"
MODEL_CARD = "README.md"  # in the run folder and in final/ (openrs.model.card)
SELECTION_JSON, SELECTION_MD, SELECTION_FIGURE = "selection.json", "selection.md", "degradation.png"
VERDICT_DIR = "verdict"  # openrs-verdict's files on the run against the paper (openrs.verdict)
# transformers writes trainer_state.json after the weights, optimizer, scheduler and RNG state: a checkpoint whose
# trainer_state.json parses is complete (is_complete).
COMPLETE_MARKER = "trainer_state.json"
PREEMPTED_MARKER = "preempted"
PRUNED_MARKER = "pruned"
ERROR_FILE = "error.txt"
SLURM_JOBS = "slurm_jobs.txt"
HYDRA_DIR, HYDRA_LOG = ".hydra", "__main__.log"
STORE_ARTIFACTS = "mlartifacts"  # beside a SQLite MLflow store, wherever it is (openrs.tracking.store)
# What a job writes before its job.yaml (Hydra's record, the lock, its MLflow run; a sweep's error.txt when it
# failed that early): a folder holding anything else without a job.yaml is not a run folder openrs made.
_BEFORE_JOB_FILE = {LOCK_FILE, HYDRA_DIR, HYDRA_LOG, RUN_FILE, JOURNAL, ERROR_FILE}
_NAMES = _BEFORE_JOB_FILE | {JOB_FILE, EVAL_DIR, RANKS_DIR, FINAL_DIR, MODEL_CARD, SELECTION_JSON, SELECTION_MD,
                             SELECTION_FIGURE, VERDICT_DIR, PREEMPTED_MARKER, PRUNED_MARKER, SLURM_JOBS}  # fmt: skip
# Top-level keys every openrs job config has (JobConfig, and Hydra's .hydra/config.yaml of it).
_JOB_KEYS = {"name", "model", "trainer", "resume", "output_dir"}

_CHECKPOINT, _EVAL_STEP = "checkpoint-", "step-"


def retired_journal(run_id: str) -> str:
    """The name JOURNAL takes when a resumed job replaces run_id (openrs.tracking.run_start.start_run)."""
    return f"mlflow_journal.{run_id}.jsonl"


def eval_dir(output_dir: str | Path) -> Path:
    """OUTPUT_DIR/eval, the step-wise evaluations of a job."""
    return Path(output_dir) / EVAL_DIR


def eval_step_dir(output_dir: str | Path, step: int) -> Path:
    """OUTPUT_DIR/eval/step-N, the step-wise evaluation after step N."""
    return eval_dir(output_dir) / f"{_EVAL_STEP}{step}"


def evaluated_steps(evaluations: Path, file: str) -> Iterator[tuple[int, Path]]:
    """(step, path of `file` in it) for each eval/step-N folder holding `file`, by step."""
    found = [(int(p.parent.name.removeprefix(_EVAL_STEP)), p) for p in evaluations.glob(f"{_EVAL_STEP}*/{file}")]
    return iter(sorted(found))


def checkpoint_dir(output_dir: str | Path, step: int) -> Path:
    """OUTPUT_DIR/checkpoint-N, the trainer's checkpoint after step N."""
    return Path(output_dir) / f"{_CHECKPOINT}{step}"


def checkpoint_step(checkpoint: Path) -> int | None:
    """N of a checkpoint-N folder; None for any other name."""
    number = checkpoint.name.removeprefix(_CHECKPOINT)
    return int(number) if checkpoint.name.startswith(_CHECKPOINT) and number.isdigit() else None


def is_complete(checkpoint: Path) -> bool:
    """Whether checkpoint was completely written: its trainer_state.json, the last file saved, is a readable
    JSON object (a full disk or a kill mid-write leaves it empty or cut short)."""
    try:
        return isinstance(json.loads((checkpoint / COMPLETE_MARKER).read_text()), dict)
    except (OSError, ValueError):
        return False


def checkpoints(directory: Path) -> Iterator[Path]:
    """The complete (is_complete) `checkpoint-N` folders in directory, newest (highest N) first, lazily."""
    found = [p for p in directory.glob(f"{_CHECKPOINT}*") if checkpoint_step(p) is not None]
    return (p for p in sorted(found, key=lambda p: -checkpoint_step(p)) if is_complete(p))


def newest_checkpoint(directory: Path) -> Path | None:
    """The highest-step `checkpoint-N` in directory that was completely written (is_complete), else None."""
    return next(checkpoints(directory), None)


def resume_checkpoint(job: JobConfig) -> Path | None:
    """Checkpoint to resume from: none (resume=false), the newest in output_dir (resume=true; none yet
    is a fresh start), or the given checkpoint or run directory (which must hold one)."""
    if job.resume is False:
        return None
    if job.resume is True:
        return newest_checkpoint(Path(job.output_dir))
    path = Path(job.resume)
    found = path if is_complete(path) else newest_checkpoint(path)
    if found is None:
        raise ConfigError(
            f"resume={job.resume!r}: no complete checkpoint there (a checkpoint-N with a readable {COMPLETE_MARKER}); "
            "give a run folder or checkpoint that has one, or resume=false"
        )
    return found


class Claim:
    """A run folder held by this process (claim): the folder is this process's until release() (or the end of a
    `with` block) removes its lock file, or until the process ends, however it ends: the kernel then frees the
    lock, and a lock file left by a dead process is taken over."""

    def __init__(self, lock: IO[str]):
        self._lock = lock

    def release(self) -> None:
        """Give the folder up and remove its lock file (removed while still held, so no other process can be
        holding the file that is removed)."""
        if not self._lock.closed:
            Path(self._lock.name).unlink(missing_ok=True)
            self._lock.close()

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim(folder: Path, holder: str) -> Claim:
    """Lock folder for this process: the lock file names the holder (`holder`, process, host, start time).
    ConfigError naming the current holder when another process has the folder. Creates folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    while True:
        lock = open(path, "a+")  # noqa: SIM115 - held open for as long as the folder is this process's
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            current = lock.read().strip() or "another process"
            lock.close()
            raise ConfigError(f"{folder} is in use by {current}: a run folder takes one job at a time; wait for it "
                              "to end, or choose another folder (hydra.run.dir=...)") from None  # fmt: skip
        try:  # the holder before us may have released (removed) the file between our open and our lock
            if os.stat(path).st_ino == os.fstat(lock.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        lock.close()
    lock.seek(0)
    lock.truncate()
    since = datetime.now().astimezone().isoformat(timespec="seconds")
    lock.write(f"{holder} (process {os.getpid()} on {socket.gethostname()}, since {since})\n")
    lock.flush()
    return Claim(lock)


def store_files(folder: Path, tracking_uri: str | None) -> set[str]:
    """The names in folder of a job's own SQLite store when its tracking_uri puts the store there: the database,
    SQLite's journal files, and the artifacts folder beside it (openrs.tracking.store.artifact_root)."""
    if not tracking_uri or not tracking_uri.startswith("sqlite:///"):
        return set()
    database = Path(tracking_uri.removeprefix("sqlite:///")).resolve()
    if database.parent != folder.resolve():
        return set()
    return {database.name, *(database.name + end for end in ("-journal", "-wal", "-shm")), STORE_ARTIFACTS}


def not_openrs(folder: Path, tracking_uri: str | None = None) -> str | None:
    """Why folder is not a run folder openrs made ('it holds notes.txt, data'; 'its job.yaml is not an openrs
    job'), or None: it does not exist, is empty, or holds only what a job writes (the names above, the SQLite store
    its tracking_uri keeps there, job.yaml and Hydra's .hydra/config.yaml being openrs job configs)."""
    if not folder.is_dir():
        return None
    names = {p.name for p in folder.iterdir()} - store_files(folder, tracking_uri)
    strangers = sorted(n for n in names if n not in _NAMES and checkpoint_step(folder / n) is None
                       and not (n.startswith("mlflow_journal.") and n.endswith(".jsonl")))  # fmt: skip
    if not (folder / JOB_FILE).is_file():
        strangers += sorted(names - _BEFORE_JOB_FILE - set(strangers))
    if strangers:
        shown = ", ".join(strangers[:4]) + (f" and {len(strangers) - 4} more" if len(strangers) > 4 else "")
        return f"it holds {shown}" + ("" if (folder / JOB_FILE).is_file() else f" and no {JOB_FILE}")
    for config in (folder / JOB_FILE, folder / HYDRA_DIR / "config.yaml"):
        if config.exists() and not _is_job_config(config):
            return f"its {config.relative_to(folder)} is not an openrs job's config"
    return None


def _is_job_config(path: Path) -> bool:
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(config, dict) and _JOB_KEYS <= set(config)


def trained_here(folder: Path) -> list[str]:
    """What in folder shows that a job trained there (checkpoints, final/, its MLflow run), by name."""
    found = sorted((p.name for p in folder.glob(f"{_CHECKPOINT}*") if checkpoint_step(p) is not None),
                   key=lambda name: checkpoint_step(folder / name))  # fmt: skip
    return found + [name for name in (FINAL_DIR, RUN_FILE) if (folder / name).exists()]


def full_disk(folder: Path, err: BaseException) -> str | None:
    """Why err looks like the folder's file system ran out of space ('0.0 MiB free on FOLDER'), or None. Not every
    writer says so: torch.save reports a short write as `unexpected pos`, so a nearly full disk counts too."""
    chain, seen = [], err
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    said = any(getattr(e, "errno", None) == errno.ENOSPC or "No space left on device" in str(e) for e in chain)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return None
    return f"{free / 2**20:.1f} MiB free on {folder}" if said or free < 2**20 else None
