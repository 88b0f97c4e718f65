"""MLflow tracking of a job. The Hydra process opens the run (`start_run`), rank 0 logs into it (`RunLog`
through `logging_callback`), and the end-of-job selection (openrs.selection) adds its verdict, artifacts and a
registered model.

Layout: one experiment per `name` (tracking.experiment overrides it), one run per job named from its
command-line choices, the jobs of a multirun sweep as children of one parent run; params = the flattened
resolved config; tags = Hydra group choices, overrides, git commit, hardware, output folder.

OUTPUT_DIR/mlflow_run.json names the store and the run: training ranks and resumed jobs reattach to it.
Everything logged goes first to OUTPUT_DIR/mlflow_journal.jsonl and then to MLflow. When MLflow cannot be
reached, training goes on, later writes retry every minute, and `python -m openrs.tracking replay
OUTPUT_DIR` uploads whatever the run lacks. A metric the run already holds at a step is never logged at
that step again (a resumed job repeats the steps after its checkpoint).

No secret reaches MLflow: params, tags, the run name and the job.yaml artifact pass through
openrs.tracking.redaction. A local server for a run or sweep is openrs.tracking.server's.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from openrs import CONF_DIR
from openrs.config.errors import ConfigError
from openrs.config.job import JobConfig
from openrs.run_folder import (
    COMPLETE_MARKER,
    JOB_FILE,
    JOURNAL,
    PARENT_FILE,
    REDACTED_DIR,
    RUN_FILE,
    resume_checkpoint,
    retired_journal,
)
from openrs.selection.trial import TRIAL_TAG, trial_spec
from openrs.tracking.metadata import flatten, git_commit, run_name, ui_link
from openrs.tracking.redaction import redact

# Earlier MLflow 3 UIs open an experiment with this tag in the model-training view (runs, metric charts) instead
# of the GenAI view (traces, evaluations); 3.17's follows the browser's choice or the link (run_metadata.ui_link).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def job_client(uri: str):
    """An MlflowClient for a job's own logging, which fails over to the journal within seconds instead of
    MLflow's default of minutes of retries (unless MLFLOW_HTTP_REQUEST_* say otherwise)."""
    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    return MlflowClient(uri)


def metric_key(name: str) -> str:
    """An MLflow-valid metric name: characters outside letters, digits, _ - . : / and space become _."""
    return re.sub(r"/+", "/", re.sub(r"[^\w.\- :/]", "_", name)).strip("/")


def store_uri(uri: str) -> str:
    """uri with a relative SQLite path made absolute (and its folder created), so that every process of a
    job, whatever its working directory, writes the same file."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path = Path(uri.removeprefix("sqlite:///")).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    return uri


def default_tracking_uri() -> str:
    """The store of conf/tracking/sqlite.yaml, where jobs log by default."""
    return yaml.safe_load((CONF_DIR / "tracking" / "sqlite.yaml").read_text())["uri"]


def artifact_root(store: str) -> Path:
    """Where artifacts of a store live: mlartifacts/ beside a SQLite file, else in the working directory."""
    base = Path(store.removeprefix("sqlite:///")).parent if store.startswith("sqlite:///") else Path()
    return base.resolve() / "mlartifacts"


@contextlib.contextmanager
def _store_lock(uri: str):
    """Jobs running side by side that open a new SQLite store together race on creating its tables (MLflow's
    migrations): one at a time, through a lock file beside it."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    with open(uri.removeprefix("sqlite:///") + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def experiment_id(client, name: str, uri: str) -> str:
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        if EXPERIMENT_KIND[0] not in found.tags:  # made by an older openrs; a kind someone chose stays
            client.set_experiment_tag(found.experiment_id, *EXPERIMENT_KIND)
        return found.experiment_id
    # A SQLite store's artifacts go beside its file; a server decides for itself.
    location = (artifact_root(uri) / name).as_uri() if uri.startswith("sqlite") else None
    try:
        return client.create_experiment(name, artifact_location=location, tags=dict([EXPERIMENT_KIND]))
    except MlflowException:  # a parallel job created it first
        return client.get_experiment_by_name(name).experiment_id


def _sweep_parent(client, experiment_id: str, sweep_dir: Path, name: str) -> str:
    """Id of the sweep's parent run, created by the first job to get here (a lock file orders parallel jobs)."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with open(sweep_dir / f"{PARENT_FILE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = sweep_dir / PARENT_FILE
        if path.is_file():
            return json.loads(path.read_text())["run_id"]
        run = client.create_run(
            experiment_id, run_name=f"{name} sweep", tags={"openrs.sweep_dir": str(sweep_dir.resolve())}
        )
        path.write_text(json.dumps({"run_id": run.info.run_id, "tracking_uri": client.tracking_uri}))
        return run.info.run_id


def _previous_run(job: JobConfig) -> dict | None:
    """The run file of the run a resumed job continues, if that run was tracked, with `step`: the step of the
    checkpoint it resumes from."""
    checkpoint = resume_checkpoint(job)
    path = checkpoint.parent / RUN_FILE if checkpoint is not None else None
    if path is None or not path.is_file():
        return None
    step = json.loads((checkpoint / COMPLETE_MARKER).read_text()).get("global_step", 0)
    return json.loads(path.read_text()) | {"step": step}


def resumed_status(job: JobConfig) -> str | None:
    """Status (FINISHED, KILLED, FAILED, ...) of the tracked run a resumed job continues; None for a new run or
    when MLflow cannot be reached (start_run then says so)."""
    previous = _previous_run(job)
    try:
        return job_client(previous["tracking_uri"]).get_run(previous["run_id"]).info.status if previous else None
    except Exception:  # noqa: BLE001 - unreachable: start_run reports it
        return None


def _logged_after(client, run_id: str, step: int) -> bool:
    """Whether the run holds a metric point after step."""
    keys = client.get_run(run_id).data.metrics
    return any(m.step > step for k in keys for m in client.get_metric_history(run_id, k))


def start_run(job: JobConfig, choices: Mapping[str, str], overrides: list[str], sweep_dir: Path | None) -> str:
    """Open the job's MLflow run, or reopen the resumed run's, write OUTPUT_DIR/mlflow_run.json and log the
    resolved config; return the run id. Raises ConfigError when the store cannot be reached.

    A resumed run that holds metric points after the checkpoint it resumes from (its job was killed between
    checkpoints) is replaced: MLflow cannot delete points, so a new run takes its place, the old one is deleted
    and its journal kept as mlflow_journal.RUN_ID.jsonl; the resumed trainer logs its restored history (every
    step up to the checkpoint) into the new run, then the steps it trains."""
    from mlflow.entities import Param

    out = Path(job.output_dir)
    previous = _previous_run(job)
    uri = previous["tracking_uri"] if previous else store_uri(job.tracking.uri)
    run_id = replaced = None
    try:
        with _store_lock(uri):
            client = job_client(uri)  # opens the store: creates a new one's tables
        if previous and _logged_after(client, previous["run_id"], previous["step"]):
            replaced = client.get_run(previous["run_id"])
        if previous and not replaced:
            run_id = previous["run_id"]
            client.update_run(run_id, status="RUNNING")
            run = client.get_run(run_id)
            experiment = run.info.experiment_id
            if "openrs.error" in run.data.tags:  # the attempt it continues failed; this one may not
                client.delete_tag(run_id, "openrs.error")
        else:
            experiment = experiment_id(client, job.tracking.experiment or job.name, uri)
            hw = job.hardware
            tags = {
                **{f"openrs.choice.{g}": str(c) for g, c in choices.items() if not g.startswith("hydra")},
                "openrs.overrides": " ".join(overrides),
                "openrs.hardware": f"{choices.get('hardware', '?')}: {hw.accelerator}, {hw.gpus} GPUs",
                "openrs.output_dir": str(out.resolve()),
            }
            if commit := git_commit():
                tags["mlflow.source.git.commit"] = commit
            if spec := trial_spec():  # set by the Optuna sweeper
                tags[TRIAL_TAG] = f"{spec['study']}:{spec['trial']}"
            if sweep_dir is not None:
                tags["mlflow.parentRunId"] = _sweep_parent(client, experiment, sweep_dir, job.name)
            if replaced:  # the new run stands where the old one stood: its experiment, sweep and trial
                experiment = replaced.info.experiment_id
                keep = ("mlflow.parentRunId", TRIAL_TAG)
                tags |= {k: v for k, v in replaced.data.tags.items() if k in keep and k not in tags}
                tags["openrs.replaces_run"] = replaced.info.run_id
            tags = {k: redact(v) for k, v in tags.items()}
            run_id = client.create_run(experiment, run_name=redact(run_name(job, overrides)), tags=tags).info.run_id
            params = [Param(k, v) for k, v in flatten(job.model_dump()).items()]
            for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
                client.log_batch(run_id, params=params[i : i + 100])
            if replaced:  # its job was killed: it never closed the run
                client.set_terminated(replaced.info.run_id, "KILLED")
                client.delete_run(replaced.info.run_id)
    except Exception as err:  # noqa: BLE001 - any failure to reach the store means the same fix
        if run_id is not None:
            with contextlib.suppress(Exception):  # the store may be what failed
                client.set_terminated(run_id, "FAILED")
        raise ConfigError(
            f"tracking.uri={redact(uri)!r}: MLflow cannot be reached ({redact(str(err))[:300]}); start the "
            "server, or use tracking=sqlite (a local file) or tracking=none"
        ) from None
    if replaced and (out / JOURNAL).is_file():  # replay must not send the abandoned steps to the new run
        (out / JOURNAL).rename(out / retired_journal(replaced.info.run_id))
    (out / RUN_FILE).write_text(json.dumps({"tracking_uri": uri, "run_id": run_id}))
    safe = out / REDACTED_DIR / JOB_FILE
    safe.parent.mkdir(exist_ok=True)
    safe.write_text(redact(yaml.safe_dump(job.model_dump(), sort_keys=False)))
    RunLog(out).log_artifact(safe)
    action = "reattached to" if previous and not replaced else "logging to"
    print(f"openrs: {action} MLflow run {run_id} in {redact(uri)}", file=sys.stderr)
    print(f"openrs: see it at {ui_link(uri, experiment, run_id)}", file=sys.stderr)
    if replaced:
        print(f"openrs: run {replaced.info.run_id} held steps after checkpoint {previous['step']} that this job "
              "repeats; it is deleted and replaced by this run", file=sys.stderr)  # fmt: skip
    return run_id


class RunLog:
    """A tracked job's run as rank 0 and the selection write to it: journal first, then MLflow."""

    RETRY_S = 60.0

    def __init__(self, run_dir: Path):
        info = json.loads((run_dir / RUN_FILE).read_text())
        self.run_id = info["run_id"]
        self.client = job_client(info["tracking_uri"])
        self.journal = run_dir / JOURNAL
        self._unsent: list[dict] = []
        self._retry_at = 0.0
        self._logged: set[tuple[str, int]] | None = None  # (metric, step) pairs the run holds
        self._journal_failed = False

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        """Numeric values of metrics at step (others are skipped)."""
        now = int(time.time() * 1000)
        self._write(
            [
                {"metric": metric_key(k), "value": float(v), "step": int(step), "timestamp": now}
                for k, v in metrics.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            ]
        )

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._write([{"tag": k, "value": redact(str(v))} for k, v in tags.items()])

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """A file or a whole folder, under artifact_path in the run's artifacts."""
        self._write([{"artifact": str(Path(path).resolve()), "dir": artifact_path}])

    def register_model(self, name: str, artifact: str, score: float, alias: str) -> None:
        """A version of registered model `name` from the run's artifact folder `artifact` (openrs.selection calls it;
        once per run and folder), tagged with score; `alias` moves to the best-scoring version. Journaled like the
        rest: a registration that failed is done again by replay."""
        self._write([{"register": name, "folder": artifact, "score": score, "alias": alias}])

    def finish(self, status: str) -> None:
        """FINISHED, FAILED or KILLED (a preempted job, resumed later)."""
        self._write([{"status": status}])

    def replay(self) -> int:
        """Send the whole journal again (metrics the run holds are skipped; tags, artifacts and status are
        idempotent); return the number of records. Raises RuntimeError when MLflow cannot be reached."""
        records = [json.loads(line) for line in self.journal.read_text().splitlines() if line.strip()]
        self._unsent, self._retry_at = records, 0.0
        if not self.flush():
            raise RuntimeError(f"MLflow at {redact(self.client.tracking_uri)} cannot be reached; nothing replayed")
        return len(records)

    def _write(self, records: list[dict]) -> None:
        if not records:
            return
        data = "".join(json.dumps(r) + "\n" for r in records).encode()
        with self.journal.open("ab", buffering=0) as f:  # unbuffered: a failed write leaves nothing to flush
            whole = f.tell()
            try:
                if f.write(data) != len(data):
                    raise OSError(errno.ENOSPC, "No space left on device (a short write)")
            except OSError as err:  # a full disk: MLflow still gets them, and the journal keeps whole records only
                f.truncate(whole)
                if not self._journal_failed:
                    print(f"openrs: the MLflow journal cannot be written ({err}); sending to MLflow only",
                          file=sys.stderr)  # fmt: skip
                self._journal_failed = True
        self._unsent += records
        self.flush()

    def flush(self) -> bool:
        """Send what is unsent; False (and a retry a minute later) when MLflow cannot be reached."""
        if not self._unsent or time.monotonic() < self._retry_at:
            return not self._unsent
        try:
            self._send(self._unsent)
        except Exception as err:  # noqa: BLE001 - unreachable store, timeout, server error: keep the journal
            if not self._retry_at:
                print(
                    f"openrs: MLflow unreachable ({redact(str(err))[:200]}); training goes on, everything is kept "
                    f"in {self.journal} and retried; upload later with `python -m openrs.tracking replay "
                    f"{self.journal.parent}`",
                    file=sys.stderr,
                )
            self._retry_at = time.monotonic() + self.RETRY_S
            return False
        self._unsent, self._retry_at = [], 0.0
        return True

    def _send(self, records: list[dict]) -> None:
        from mlflow.entities import Metric, RunTag

        if self._logged is None:
            self._logged = self._logged_steps()
        metrics = []
        for r in records:
            if "metric" in r and (r["metric"], r["step"]) not in self._logged:
                self._logged.add((r["metric"], r["step"]))
                metrics.append(Metric(r["metric"], r["value"], r["timestamp"], r["step"]))
        for i in range(0, len(metrics), 1000):  # MLflow's batch limit
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000])
        tags = [RunTag(r["tag"], r["value"]) for r in records if "tag" in r]
        if tags:
            self.client.log_batch(self.run_id, tags=tags)
        for r in records:
            if "artifact" in r:
                path = Path(r["artifact"])
                if path.is_dir():
                    self.client.log_artifacts(self.run_id, str(path), r["dir"])
                elif path.is_file():
                    self.client.log_artifact(self.run_id, str(path), r["dir"])
            elif "status" in r:
                # MLflow prints the run's link when it ends, with the password of the store's URI in it; openrs
                # prints its own links, redacted. (Set for the rest of this process: every run ends this way.)
                os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
                self.client.set_terminated(self.run_id, r["status"])
            elif "register" in r:
                source = f"runs:/{self.run_id}/{r['folder']}"
                version = register(self.client, r["register"], source, self.run_id, r["score"], r["alias"])
                self.client.set_tag(self.run_id, "selection.registered_model", f"{r['register']}/{version}")

    def _logged_steps(self) -> set[tuple[str, int]]:
        keys = self.client.get_run(self.run_id).data.metrics
        return {(k, m.step) for k in keys for m in self.client.get_metric_history(self.run_id, k)}


def register(client, name: str, source: str, run_id: str, score: float, alias: str) -> str:
    """A model version of source (once per run and source) in registered model `name`; move `alias` to the
    version with the highest best_score tag. Returns this run's version."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException:
        pass  # it exists
    versions = client.search_model_versions(f"name='{name}'")
    mine = next((v for v in versions if v.run_id == run_id and v.source == source), None)
    if mine is None:
        mine = client.create_model_version(name, source, run_id=run_id, tags={"best_score": f"{score:.6f}"})
        versions.append(mine)
    best = max(versions, key=lambda v: float(v.tags.get("best_score", "-inf")))
    client.set_registered_model_alias(name, alias, best.version)
    return mine.version


def logging_callback(run_dir: Path):
    """A TrainerCallback for rank 0 that logs every numeric entry of the trainer's log history at its step:
    TRL's training metrics, the step-wise evaluations and the early stop's cost entries."""
    from transformers import TrainerCallback

    log = RunLog(run_dir)

    class MLflowLogging(TrainerCallback):
        # From the first entry on: a resumed job's restored history is skipped by RunLog as already logged.
        seen = 0

        def on_log(self, args, state, control, **kwargs):
            self._drain(state)

        def on_step_end(self, args, state, control, **kwargs):
            self._drain(state)

        def on_train_end(self, args, state, control, **kwargs):
            self._drain(state)

        def _drain(self, state) -> None:
            for entry in state.log_history[self.seen :]:
                log.log_metrics({k: v for k, v in entry.items() if k != "step"}, entry.get("step", state.global_step))
            self.seen = len(state.log_history)

    return MLflowLogging()


