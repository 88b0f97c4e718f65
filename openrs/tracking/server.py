"""A local `mlflow server` for a run or sweep (tracking=local_server): started on 127.0.0.1 only, in front of
tracking.serve's store, before the first job and stopped after the last (LocalServer, a Hydra callback in
conf/config.yaml)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlparse

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from pydantic import ValidationError

from openrs.base.errors import ConfigError
from openrs.config.job import TrackingConfig
from openrs.tracking.store import artifact_root, store_uri


def healthy(uri: str, timeout_s: float = 2.0) -> bool:
    """Whether an MLflow server answers /health at uri."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s) as response:
            return response.status == 200
    except OSError:
        return False


def serve(tracking: TrackingConfig, timeout_s: float = 120.0) -> subprocess.Popen | None:
    """Start `mlflow server` on 127.0.0.1 at tracking.uri's port in front of tracking.serve, unless a server
    already answers there; return the process to stop (None when none was started)."""
    if tracking.serve is None or healthy(tracking.uri):
        return None
    store = store_uri(tracking.serve)
    port = str(urlparse(tracking.uri).port)
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", port, "--workers", "1",
           "--backend-store-uri", store, "--artifacts-destination", str(artifact_root(store))]  # fmt: skip
    print(f"openrs: starting the MLflow server: {' '.join(cmd)}", file=sys.stderr)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while not healthy(tracking.uri):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise ConfigError(
                f"tracking.serve: the MLflow server on {tracking.uri} did not start: "
                f"{proc.stderr.read().decode(errors='replace')[-1000:]}"
            )
        time.sleep(1)
    return proc


class LocalServer(Callback):
    """Hydra callback (conf/config.yaml): with tracking.serve set, one `mlflow server` on 127.0.0.1 for the
    whole run or sweep, started before the first job and stopped after the last."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None

    def __getstate__(self) -> dict:  # a job in its own process (hydra/launcher=gpu_slots) needs no server handle
        return {"proc": None}

    def _start(self, config: DictConfig) -> None:
        try:
            tracking = TrackingConfig.model_validate(OmegaConf.to_container(config.tracking, resolve=True))
            self.proc = serve(tracking)
        except (ValidationError, ConfigError) as err:
            sys.exit(f"openrs: tracking: {err}")

    def _stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        self._start(config)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self._start(config)

    def on_run_end(self, config: DictConfig, **kwargs) -> None:
        self._stop()

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        self._stop()
