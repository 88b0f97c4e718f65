"""Shared test helpers, as fixtures: `job` and `cfg` compose conf/config.yaml as `python -m openrs` would (on
hardware=cpu unless an override names the hardware); `run_openrs`, `make_job`, `write_eval`, `free_port`,
`small_disk`, `descendants`, `running`, `cache_with_the_tiny_model` hand a test the function of that name; `repo` is
the checkout's root and `secret` a value redaction must never let through.

The plain functions below are the fixtures' bodies: a test requests the fixture, never imports this module."""

import atexit
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from openrs import CONF_DIR
from openrs.config.job import JobConfig
from openrs.evaluation.harness import ProblemResult, write_report
from openrs.resolve.load import load_job

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
SECRET = "hf_abcdefSECRET12345"  # a value redaction must never let through


def compose_cfg(*overrides: str, output_dir: str = "/tmp/openrs-test") -> DictConfig:
    """Compose conf/config.yaml as `python -m openrs` would, with overrides; on hardware=cpu unless an override
    names the hardware (the default, hardware=auto, depends on the machine: tests/resolve/test_auto_hardware.py
    covers it)."""
    if not any(o.startswith("hardware=") for o in overrides):
        overrides = ("hardware=cpu", *overrides)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[f"output_dir={output_dir}", *overrides])


def compose_job(*overrides: str, output_dir: str = "/tmp/openrs-test") -> JobConfig:
    """The job `python -m openrs OVERRIDES` would run: compose_cfg's config, validated by load_job."""
    cfg = compose_cfg(*overrides, output_dir=output_dir)
    return load_job(cfg)


def run_openrs(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m openrs ARGS` in a subprocess, output captured as text."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def small_disk(folder: Path, size: str) -> Path:
    """folder as a file system of `size` (a tmpfs: "6M"), unmounted when the test process ends; skips the test
    where mounting is not allowed (it needs root and Linux)."""
    folder.mkdir(parents=True)
    if not sys.platform.startswith("linux") or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    ).returncode:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    atexit.register(subprocess.run, ["umount", "-l", str(folder)])
    return folder


def descendants(pid: int) -> list[int]:
    """Every process below pid (Linux /proc)."""
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return children + [d for c in children for d in descendants(c)]


def running(pid: int) -> bool:
    """Whether process pid exists and is not a zombie (Linux /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def make_job(tmp_path: Path, *overrides: str):
    """The smoke job tracked in tmp_path/mlflow.db, its output folder tmp_path/run with job.yaml (nothing trained)."""
    out = tmp_path / "run"
    out.mkdir(parents=True, exist_ok=True)
    job = compose_job("+experiment=smoke", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", *overrides,
                      output_dir=str(out))  # fmt: skip
    (out / "job.yaml").write_text(yaml.safe_dump(job.model_dump()))
    return job


def write_eval(run_dir: Path, results: dict) -> None:
    """Step-wise evaluation files and a checkpoint for each {step: {problem: (correct, samples)}} of a run folder."""
    for step, problems in results.items():
        rows = [ProblemResult("amc23", key, "1", correct=c, samples=k, predictions=["1"] * k,
                              outcomes=["correct"] * c + ["wrong"] * (k - c), lengths=[10] * k)
                for key, (c, k) in problems.items()]  # fmt: skip
        write_report(rows, run_dir / "eval" / f"step-{step}", f"step {step}")
        checkpoint = run_dir / f"checkpoint-{step}"
        checkpoint.mkdir(exist_ok=True)
        (checkpoint / "trainer_state.json").write_text(json.dumps({"log_history": []}))
        (checkpoint / "model.safetensors").write_text(f"weights of step {step}")
        (checkpoint / "optimizer.pt").write_text("training state only")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cache_with_the_tiny_model(cache: Path) -> Path:
    """An empty OPENRS_CACHE folder (for a test that must see no cached grades) with the smoke preset's tiny model
    linked in: built once in the default cache and shared, since building it (a warm start of 250 steps) takes
    minutes on a CPU."""
    from openrs.model.tiny import tiny_model_path

    tiny = tiny_model_path(compose_job("+experiment=smoke").model.tiny)
    cache.mkdir(parents=True)
    (cache / tiny.name).symlink_to(tiny)
    return cache


# The fixtures. Each hands the test the function above (a factory where it takes arguments); session-scoped, since
# none keeps state between calls, so that module- and session-scoped fixtures of the test files may request them.


@pytest.fixture(scope="session")
def repo() -> Path:
    """The checkout's root."""
    return REPO


@pytest.fixture(scope="session")
def secret() -> str:
    """A value redaction must never let through."""
    return SECRET


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside the checkout")
    return SHARED_DATA


@pytest.fixture(scope="session", name="cfg")
def _cfg() -> Callable[..., DictConfig]:
    """cfg(*overrides, output_dir=...): the composed config, before load_job (compose_cfg)."""
    return compose_cfg


@pytest.fixture(scope="session", name="job")
def _job() -> Callable[..., JobConfig]:
    """job(*overrides, output_dir=...): the job `python -m openrs OVERRIDES` would run, on hardware=cpu unless an
    override names the hardware (compose_job)."""
    return compose_job


@pytest.fixture(scope="session", name="run_openrs")
def _run_openrs() -> Callable[..., subprocess.CompletedProcess]:
    return run_openrs


@pytest.fixture(scope="session", name="make_job")
def _make_job() -> Callable[..., JobConfig]:
    return make_job


@pytest.fixture(scope="session", name="write_eval")
def _write_eval() -> Callable[[Path, dict], None]:
    return write_eval


@pytest.fixture(scope="session", name="free_port")
def _free_port() -> Callable[[], int]:
    return free_port


@pytest.fixture(scope="session", name="small_disk")
def _small_disk() -> Callable[[Path, str], Path]:
    return small_disk


@pytest.fixture(scope="session", name="descendants")
def _descendants() -> Callable[[int], list[int]]:
    return descendants


@pytest.fixture(scope="session", name="running")
def _running() -> Callable[[int], bool]:
    return running


@pytest.fixture(scope="session", name="cache_with_the_tiny_model")
def _cache_with_the_tiny_model() -> Callable[[Path], Path]:
    return cache_with_the_tiny_model
