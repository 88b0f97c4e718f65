"""The MLflow store a job logs to: its client, its URI made absolute, the default store, where its artifacts live,
and the experiment of a job (created once, even by parallel jobs)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

import yaml

from openrs import CONF_DIR
from openrs.run_folder import STORE_ARTIFACTS

# Earlier MLflow 3 UIs open an experiment with this tag in the model-training view (runs, metric charts) instead
# of the GenAI view (traces, evaluations); 3.17's follows the browser's choice or the link (run_metadata.ui_link).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


# MLflow prints a "View run" link with the store's URI, password included, when a run ends: openrs prints its own,
# redacted (openrs.base.redaction). Set as soon as any openrs module reaches MLflow through this one.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def job_client(uri: str):
    """An MlflowClient for a job's own logging, which fails over to the journal within seconds instead of
    MLflow's default of minutes of retries (unless MLFLOW_HTTP_REQUEST_* say otherwise)."""
    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    return MlflowClient(uri)


def store_uri(uri: str) -> str:
    """uri with a relative SQLite path made absolute, so that every process of a job, whatever its working
    directory, writes the same file; a SQLite store's folder is created."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///")).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    return uri


def existing_store(uri: str) -> str:
    """uri as store_uri makes it, for a command that only reads a store: ValueError (naming the file) when a SQLite
    store's file does not exist, instead of creating an empty one (and its folder)."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///")).resolve()
        if not path.is_file():
            raise ValueError(f"no MLflow store at {path}: pass --tracking-uri of the store that holds the run")
        return f"sqlite:///{path}"
    return uri


def default_tracking_uri() -> str:
    """The store of conf/tracking/sqlite.yaml, where jobs log by default."""
    return yaml.safe_load((CONF_DIR / "tracking" / "sqlite.yaml").read_text())["uri"]


def artifact_root(store: str) -> Path:
    """Where artifacts of a store live: mlartifacts/ beside a SQLite file, else in the working directory."""
    base = Path(store.removeprefix("sqlite:///")).parent if store.startswith("sqlite:///") else Path()
    return base.resolve() / STORE_ARTIFACTS


@contextlib.contextmanager
def store_lock(uri: str):
    """Processes side by side that open a new SQLite store together race on creating its tables (MLflow's
    migrations; `duplicate column name`): one at a time, through a lock on the store's folder, which writes
    nothing there (the folder is the user's)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    folder = os.open(Path(uri.removeprefix("sqlite:///")).parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the lock


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
