"""Hydra callback (conf/config.yaml), each refusal one line with exit code 2: a `name` that is not one folder
(../ would leave outputs/) and an output folder that cannot be written, before Hydra creates it and opens its
log file there (which would fail with a traceback); a folder in use by another job, and a rerun into a folder
that holds a run (openrs.resolve.rerun), before Hydra writes its .hydra/ record of the config there."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from openrs.base.errors import ConfigError
from openrs.config.job import folder_name_problem
from openrs.resolve.rerun import check_rerun
from openrs.run_folder import claim


def unusable(path: Path) -> str | None:
    """Why path cannot be a job's output folder (a file is there or above it, it cannot be written), else None.
    Leaves nothing behind: it tries a temporary file in path, or in the nearest folder above it that exists."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return "a file is there, not a folder" if existing == path else f"{existing} is a file, not a folder"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        return f"cannot be written ({err.strerror or err})"
    return None


class UsableOutputDir(Callback):
    def _check(self, key: str, path: str) -> None:
        if problem := unusable(Path(path)):
            print(f"openrs: {key}={path}: {problem}; choose another folder", file=sys.stderr)
            sys.exit(2)

    def _check_name(self, config: DictConfig) -> None:
        # Before Hydra makes outputs/${name}/...: a name with ../ in it would put the folder outside outputs/.
        if "name" in config and (problem := folder_name_problem(str(config.name))):
            print(f"openrs: name={config.name}: {problem}", file=sys.stderr)
            sys.exit(2)

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        self._check_name(config)
        self._check("hydra.run.dir", config.hydra.run.dir)
        # The job checks both again once it holds the folder; this earlier look keeps a running job's or a
        # finished run's .hydra/ as it was.
        raw = OmegaConf.to_container(config, resolve=False)
        folder = Path(config.hydra.run.dir)
        if "resume" not in raw or not folder.is_dir():  # a command that does not train, or a new folder
            return
        try:
            claim(folder, "openrs (a look before the job starts)").close()
            composed = OmegaConf.to_container(
                OmegaConf.create({k: v for k, v in raw.items() if k not in ("hydra", "output_dir")}), resolve=True
            )
            check_rerun(composed, folder)
        except OmegaConfBaseException:  # an interpolation only the job can resolve: the job decides
            return
        except ConfigError as err:
            print(f"openrs: {err}", file=sys.stderr)
            sys.exit(2)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self._check_name(config)
        self._check("hydra.sweep.dir", config.hydra.sweep.dir)
