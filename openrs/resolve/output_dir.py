"""Hydra callback (conf/config.yaml), each refusal one line with exit code 2: a `name` that is not one folder
(../ would leave outputs/) and an output folder that cannot be written, before Hydra creates it and opens its
log file there (which would fail with a traceback); a folder in use by another job, and a rerun into a folder
that holds a run (openrs.resolve.rerun), before Hydra writes its .hydra/ record of the config there."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from openrs import TRAINING_CONFIG
from openrs.base.errors import ConfigError
from openrs.base.redaction import holds_password
from openrs.config.job import folder_name_problem, password_refusal
from openrs.resolve.rerun import check_owned, check_rerun
from openrs.run_folder import HYDRA_DIR, HYDRA_LOG, JOB_FILE, LOCK_FILE, claim, not_openrs, trained_here

# The outermost folder Hydra was about to make for this run (None: hydra.run.dir existed): a job refused before it
# wrote anything takes it away again (remove_unused). Set by UsableOutputDir, in the job's own process.
_made_for_run: dict[str, Path | None] = {"top": None}


def remove_unused(out: Path) -> None:
    """Remove the folders Hydra made for the run at out when they hold nothing but Hydra's record of it (.hydra/,
    its log) and the job's lock: a refused job leaves no folder. Folders that existed before are never touched."""
    top = _made_for_run["top"]
    if top is None or not out.is_relative_to(top):
        return
    for path in top.rglob("*"):
        if path.is_file() and path.parent.name != HYDRA_DIR and path.name not in (HYDRA_LOG, LOCK_FILE):
            return
    shutil.rmtree(top, ignore_errors=True)


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
        if "name" not in config:
            return
        try:
            name = str(config.name)
        except OmegaConfBaseException as err:  # name='${oc.env:UNSET}': Hydra would fail on the folder's path
            raw = OmegaConf.to_container(OmegaConf.masked_copy(config, ["name"]), resolve=False)["name"]
            print(f"openrs: name={raw}: cannot be resolved ({str(err).splitlines()[0]}); set what it refers to, "
                  "or pass name=NAME", file=sys.stderr)  # fmt: skip
            sys.exit(2)
        if problem := folder_name_problem(name):
            shown = name if name.isprintable() else repr(name)  # a newline in it would split the one line
            print(f"openrs: name={shown}: {problem}", file=sys.stderr)
            sys.exit(2)

    def _check_passwords(self, config: DictConfig) -> None:
        # Before Hydra records the overrides and config in .hydra/ (the job's own check comes after that).
        for key in ("tracking.uri", "tracking.serve"):
            try:
                uri = OmegaConf.select(config, key)
            except OmegaConfBaseException:  # an interpolation only the job can resolve: the job decides
                continue
            if isinstance(uri, str) and holds_password(uri):
                print(f"openrs: {key}={password_refusal(uri)}", file=sys.stderr)
                sys.exit(2)

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        self._check_passwords(config)
        self._check_name(config)
        self._check("hydra.run.dir", config.hydra.run.dir)
        top = Path(config.hydra.run.dir).absolute()
        while not top.parent.exists():
            top = top.parent
        _made_for_run["top"] = None if top.exists() else top
        # The job checks both again once it holds the folder; this earlier look keeps a running job's or a
        # finished run's .hydra/ as it was.
        raw = OmegaConf.to_container(config, resolve=False)
        folder = Path(config.hydra.run.dir)
        if "resume" not in raw or not folder.is_dir():  # a command that does not train, or a new folder
            return
        try:
            composed = OmegaConf.to_container(
                OmegaConf.create({k: v for k, v in raw.items() if k not in ("hydra", "output_dir")}), resolve=True
            )
            if config.hydra.job.config_name == TRAINING_CONFIG:  # evaluation's folder holds other files
                check_owned(folder, composed["tracking"]["uri"])
            claim(folder, "openrs (a look before the job starts)").release()
            check_rerun(composed, folder)
        except OmegaConfBaseException:  # an interpolation only the job can resolve: the job decides
            return
        except ConfigError as err:
            print(f"openrs: {err}", file=sys.stderr)
            sys.exit(2)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self._check_passwords(config)
        self._check_name(config)
        self._check("hydra.sweep.dir", config.hydra.sweep.dir)
        if config.hydra.job.config_name == TRAINING_CONFIG:
            self._check_sweep_dir(config)

    def _check_sweep_dir(self, config: DictConfig) -> None:
        # Hydra writes each job's .hydra/ before the job can look, so the jobs' folders are checked here: a literal
        # hydra.sweep.subdir; else the numbered folders of the default ${hydra:job.num} and every folder an earlier
        # sweep's job left (its .hydra/), whatever subdir named it.
        sweep, subdir = Path(config.hydra.sweep.dir), str(OmegaConf.to_container(config.hydra.sweep)["subdir"])
        jobs = [sweep / subdir] if "${" not in subdir else sorted(
            p for p in sweep.glob("*") if p.is_dir() and (p.name.isdigit() or (p / HYDRA_DIR).is_dir())
        )
        resume, problem = OmegaConf.select(config, "resume") is True, None
        try:
            uri = OmegaConf.select(config, "tracking.uri")
        except OmegaConfBaseException:  # an interpolation only the job can resolve
            uri = None
        if (sweep / JOB_FILE).exists() or trained_here(sweep):
            problem = "it is a run's folder; a sweep's folder holds a folder per job"
        for job in jobs:
            if problem is None and (foreign := not_openrs(job, uri)):
                problem = f"{job.name}/ is not a run folder openrs made ({foreign})"
            if problem is None and not resume and (trained := trained_here(job)):
                problem = f"{job.name}/ holds a run ({', '.join(trained[-2:])}): resume=true continues its sweep"
        if problem:
            print(f"openrs: hydra.sweep.dir={sweep}: {problem}; or choose another folder", file=sys.stderr)
            sys.exit(2)
