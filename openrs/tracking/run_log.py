"""A tracked job's MLflow run as rank 0 and the end-of-job selection write to it (`RunLog`, through
`logging_callback` in training). The run itself is opened by openrs.tracking.run_start.

OUTPUT_DIR/mlflow_run.json names the store and the run: training ranks and resumed jobs reattach to it.
Everything logged goes first to OUTPUT_DIR/mlflow_journal.jsonl and then to MLflow. When MLflow cannot be
reached, training goes on, later writes retry every minute, and `python -m openrs.tracking replay
OUTPUT_DIR` uploads whatever the run lacks. A metric the run already holds at a step is never logged at
that step again (a resumed job repeats the steps after its checkpoint). Tags pass through
openrs.base.redaction.
"""

from __future__ import annotations

import errno
import json
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openrs.base.errors import ConfigError
from openrs.base.redaction import redact
from openrs.run_folder import JOURNAL, RUN_FILE
from openrs.tracking.registry import register
from openrs.tracking.store import job_client


def metric_key(name: str) -> str:
    """An MLflow-valid metric name: characters outside letters, digits, _ - . : / and space become _."""
    return re.sub(r"/+", "/", re.sub(r"[^\w.\- :/]", "_", name)).strip("/")


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

    def log_text(self, text: str, artifact_file: str) -> None:
        """text as the run's artifact artifact_file (kept in the journal itself: no copy in the run folder)."""
        self._write([{"text": text, "file": artifact_file}])

    def register_model(self, name: str, artifact: str, score: float, alias: str) -> None:
        """A version of registered model `name` from the run's artifact folder `artifact` (openrs.selection calls it;
        once per run and folder), tagged with score; `alias` moves as openrs.tracking.registry.register says.
        Journaled like the rest: a registration that failed is done again by replay."""
        self._write([{"register": name, "folder": artifact, "score": score, "alias": alias}])

    def finish(self, status: str) -> None:
        """FINISHED, FAILED or KILLED (a preempted job, resumed later)."""
        self._write([{"status": status}])

    def replay(self) -> int:
        """Send the whole journal again (metrics the run holds are skipped; tags, artifacts and status are
        idempotent); return the number of records. Raises RuntimeError when MLflow cannot be reached, ConfigError
        (naming the line) when a line of the journal is not JSON."""
        records = []
        for number, line in enumerate(self.journal.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            try:
                records += [json.loads(line)] if line.strip() else []
            except json.JSONDecodeError as err:
                raise ConfigError(f"{self.journal}:{number}: not a journal record ({err.msg}, column {err.colno}); "
                                  "remove the line, then replay again") from None  # fmt: skip
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
            elif "text" in r:
                self.client.log_text(self.run_id, r["text"], r["file"])
            elif "status" in r:
                self.client.set_terminated(self.run_id, r["status"])
            elif "register" in r:
                source = f"runs:/{self.run_id}/{r['folder']}"
                version = register(self.client, r["register"], source, self.run_id, r["score"], r["alias"])
                self.client.set_tag(self.run_id, "selection.registered_model", f"{r['register']}/{version}")

    def _logged_steps(self) -> set[tuple[str, int]]:
        keys = self.client.get_run(self.run_id).data.metrics
        return {(k, m.step) for k in keys for m in self.client.get_metric_history(self.run_id, k)}


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
