"""Hydra callback (conf/config.yaml): refuse an output folder that cannot be written, in one line with exit code 2,
before Hydra creates it and opens its log file there (which would fail with a traceback)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


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

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        self._check("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self._check("hydra.sweep.dir", config.hydra.sweep.dir)
