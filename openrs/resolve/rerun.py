"""One folder, one run: a job writes only a new or empty folder or a run folder openrs made, and one that holds a
run only to resume it, with the config that made it apart from what may change when a run goes on (RESUMABLE)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from openrs.base.errors import ConfigError
from openrs.run_folder import JOB_FILE, not_openrs, trained_here

# Keys (or key prefixes, ending in ".") a resumed run may change: how long it goes on, how it is evaluated,
# watched and stopped, and where it runs. Everything else shapes what is trained (README: Reruns and resume).
RESUMABLE = ("trainer.max_steps", "trainer.save_steps", "trainer.logging_steps", "trainer.log_completions", "eval.",
             "tracking.", "selection.", "hardware.", "resume", "dry_run", "output_dir")  # fmt: skip
# Keys the runs of a seed study may differ in besides `seed`: where and how each ran, not what it trained.
NOT_THE_RECIPE = ("seed", "output_dir", "resume", "dry_run", "requeue_exit_code", "tracking.", "hardware.")


def check_owned(out: Path, tracking_uri: str | None) -> None:
    """ConfigError when out holds anything a job did not write (run_folder.not_openrs; a job tracked with
    tracking_uri may keep its SQLite store there): a user's folder is never written into, not even a lock file."""
    if problem := not_openrs(out, tracking_uri):
        raise ConfigError(f"{out} is not a run folder openrs made ({problem}): a job writes only into a new or "
                          "empty folder or its own run folder; choose another (hydra.run.dir=...); nothing was "
                          "changed")  # fmt: skip


def check_rerun(config: Mapping[str, Any], out: Path) -> None:
    """ConfigError when a job of config (a composed config, resolved, or a JobConfig's model_dump) would mix
    with the run its output folder `out` holds: started without resume=true, or resumed with a config that
    changed a key outside RESUMABLE (every changed key is listed)."""
    trained = trained_here(out)
    if not trained:
        return
    resume = config["resume"]
    if not (resume is True or (isinstance(resume, str) and Path(resume).resolve().is_relative_to(out.resolve()))):
        shown = ", ".join(trained[-3:]) + (f" and {len(trained) - 3} more" if len(trained) > 3 else "")
        raise ConfigError(f"{out} holds a run ({shown}): continue it with resume=true, or start this one in "
                          "another folder (hydra.run.dir=...); nothing was changed")  # fmt: skip
    if not (out / JOB_FILE).is_file():
        return
    before = yaml.safe_load((out / JOB_FILE).read_text())
    changed = [f"{key}: {a!r} -> {b!r}" for key, (a, b) in differences(before, config).items()
               if not key.startswith(RESUMABLE)]  # fmt: skip
    if changed:
        raise ConfigError(f"resume=true with a config that changes what {out}'s run trains ({'; '.join(changed)}): "
                          "a resumed run keeps the config it started with, apart from steps, checkpoint and "
                          "logging cadence, evaluation, tracking, selection and hardware; start a new run in "
                          "another folder for the rest")  # fmt: skip


def differences(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (value in a, value in b) for every leaf of two job configs that differs (missing: None)."""
    found = {}
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            found |= differences(x, y, f"{prefix}{key}.")
        elif x != y:
            found[f"{prefix}{key}"] = (x, y)
    return found


def differing_keys(jobs: list[dict]) -> list[str]:
    """The keys (dotted) in which job configs (nested as job.yaml holds them, or flattened as MLflow params) differ,
    apart from NOT_THE_RECIPE: a seed study's must be none."""
    found: set[str] = set()
    for job in jobs[1:]:
        found |= {k for k in differences(jobs[0], job) if not k.startswith(NOT_THE_RECIPE)}
    return sorted(found)
