"""Opening a job's MLflow run (`start_run`, in the Hydra process before anything heavy loads): a new run, the run a
resumed job continues, or a new run that replaces one holding steps the resumed job repeats; a sweep's parent run.

Layout: one experiment per `name` (tracking.experiment overrides it), one run per job named from its
command-line choices, the jobs of a multirun sweep as children of one parent run; params = the flattened
resolved config; tags = Hydra group choices, overrides, git commit, hardware, output folder. No secret reaches
MLflow: params, tags, the run name and the job.yaml artifact pass through openrs.base.redaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

from openrs.base.errors import ConfigError
from openrs.base.redaction import redact
from openrs.base.trial import TRIAL_TAG, trial_spec
from openrs.config.job import JobConfig
from openrs.run_folder import COMPLETE_MARKER, JOB_FILE, JOURNAL, PARENT_FILE, RUN_FILE, retired_journal
from openrs.tracking.metadata import SWEEP_TAG, flatten, git_commit, run_name, ui_link
from openrs.tracking.run_log import RunLog
from openrs.tracking.store import experiment_id, job_client, store_lock, store_uri


def _sweep_parent(client, experiment_id: str, sweep_dir: Path, name: str) -> str:
    """Id of the sweep's parent run, created by the first job to get here (a lock file orders parallel jobs)."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with open(sweep_dir / f"{PARENT_FILE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = sweep_dir / PARENT_FILE
        if path.is_file():
            return json.loads(path.read_text())["run_id"]
        run = client.create_run(
            experiment_id, run_name=f"{name} sweep", tags={SWEEP_TAG: str(sweep_dir.resolve())}
        )
        path.write_text(json.dumps({"run_id": run.info.run_id, "tracking_uri": client.tracking_uri}))
        return run.info.run_id


def _previous_run(checkpoint: Path | None) -> dict | None:
    """The run file of the run a job resumed from `checkpoint` continues, if that run was tracked, with `step`: the
    step of the checkpoint."""
    path = checkpoint.parent / RUN_FILE if checkpoint is not None else None
    if path is None or not path.is_file():
        return None
    step = json.loads((checkpoint / COMPLETE_MARKER).read_text()).get("global_step", 0)
    return json.loads(path.read_text()) | {"step": step}


def resumed_status(checkpoint: Path | None) -> str | None:
    """Status (FINISHED, KILLED, FAILED, ...) of the tracked run a job resumed from `checkpoint`
    (run_folder.resume_checkpoint) continues; None for a new run or when MLflow cannot be reached (start_run then
    says so)."""
    previous = _previous_run(checkpoint)
    try:
        return job_client(previous["tracking_uri"]).get_run(previous["run_id"]).info.status if previous else None
    except Exception:  # noqa: BLE001 - unreachable: start_run reports it
        return None


def _logged_after(client, run_id: str, step: int) -> bool:
    """Whether the run holds a metric point after step."""
    keys = client.get_run(run_id).data.metrics
    return any(m.step > step for k in keys for m in client.get_metric_history(run_id, k))


def start_run(job: JobConfig, choices: Mapping[str, str], overrides: list[str], sweep_dir: Path | None, *,
              resumed_from: Path | None) -> str:
    """Open the job's MLflow run, or reopen the run of the checkpoint it resumes from (`resumed_from`:
    run_folder.resume_checkpoint), write OUTPUT_DIR/mlflow_run.json and log the resolved config; return the run
    id. Raises ConfigError when the store cannot be reached.

    A resumed run that holds metric points after the checkpoint it resumes from (its job was killed between
    checkpoints) is replaced: MLflow cannot delete points, so a new run takes its place, the old one is deleted
    and its journal kept as mlflow_journal.RUN_ID.jsonl; the resumed trainer logs its restored history (every
    step up to the checkpoint) into the new run, then the steps it trains."""
    from mlflow.entities import Param

    out = Path(job.output_dir)
    previous = _previous_run(resumed_from)
    uri = previous["tracking_uri"] if previous else store_uri(job.tracking.uri)
    run_id = replaced = None
    try:
        with store_lock(uri):
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
    RunLog(out).log_text(redact(yaml.safe_dump(job.model_dump(), sort_keys=False)), JOB_FILE)
    action = "reattached to" if previous and not replaced else "logging to"
    print(f"openrs: {action} MLflow run {run_id} in {redact(uri)}", file=sys.stderr)
    print(f"openrs: see it at {ui_link(uri, experiment, run_id)}", file=sys.stderr)
    if replaced:
        print(f"openrs: run {replaced.info.run_id} held steps after checkpoint {previous['step']} that this job "
              "repeats; it is deleted and replaced by this run", file=sys.stderr)  # fmt: skip
    return run_id
