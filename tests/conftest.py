import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from openrs import CONF_DIR

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def compose_cfg(*overrides: str, output_dir: str = "/tmp/openrs-test"):
    """Compose conf/config.yaml as `python -m openrs` would, with overrides; on hardware=cpu unless an override
    names the hardware (the default, hardware=auto, depends on the machine: tests/test_hardware.py covers it)."""
    if not any(o.startswith("hardware=") for o in overrides):
        overrides = ("hardware=cpu", *overrides)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[f"output_dir={output_dir}", *overrides])


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


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside the checkout")
    return SHARED_DATA
