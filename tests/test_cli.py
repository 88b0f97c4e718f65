"""The command line as a user meets it: inspection without torch, clean errors, a non-editable install."""

import subprocess
import sys
import zipfile

import pytest
from conftest import REPO, run_openrs


def test_cfg_job_prints_resolved_preset_without_importing_torch():
    proc = run_openrs("-X", "importtime", "-m", "openrs", "+experiment=exp3", "reward=cosine", "--cfg", "job")
    assert proc.returncode == 0, proc.stderr
    assert "name: exp3" in proc.stdout and "- cosine" in proc.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert "openrs" in imported
    assert not imported & {"torch", "transformers", "trl", "vllm", "mlflow"}


def test_help_lists_groups_and_options():
    proc = run_openrs("-m", "openrs", "--help")
    assert proc.returncode == 0
    for line in [
        "experiment: exp1, exp2, exp3, smoke",
        "length: l2048, l3584, l4096, l64, l8192",
        "hardware: a40x4, auto, colocate, cpu, h100x1",
    ]:
        assert line in proc.stdout


@pytest.mark.parametrize(
    "override, expected",
    [
        ("reward.funcs=[format,acuracy]", "reward.funcs[1]='acuracy'"),
        ("trainer.num_generations=7", "not a multiple of trainer.num_generations=7"),
        ("trainer.max_steps=-1", "trainer.max_steps=-1"),
    ],
)
def test_bad_values_exit_nonzero_with_one_message(override, expected, tmp_path):
    proc = run_openrs("-m", "openrs", override, f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.startswith("openrs: invalid config:")
    assert expected in proc.stderr and "Traceback" not in proc.stderr


def test_unreachable_tracking_server_fails_before_any_model_loads(tmp_path):
    proc = run_openrs("-m", "openrs", "+experiment=smoke", "tracking=server", "tracking.uri=http://127.0.0.1:9",
                      f"hydra.run.dir={tmp_path}")  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "tracking.uri='http://127.0.0.1:9': MLflow cannot be reached" in proc.stderr
    assert "tracking=sqlite" in proc.stderr and not (tmp_path / "checkpoint-50").exists()


def test_unknown_hardware_preset_lists_the_presets():
    proc = run_openrs("-m", "openrs", "hardware=a100x9")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "Could not find 'hardware/a100x9'" in proc.stderr and "a40x4" in proc.stderr


def test_dry_run_writes_the_resolved_job(tmp_path):
    proc = run_openrs("-m", "openrs", "+experiment=exp2", "hardware=a40x4", "dry_run=true", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    assert "6 per device x 3 processes x 4 accumulation" in proc.stdout
    assert "max_completion_length: 3584" in (tmp_path / "job.yaml").read_text()


def test_non_editable_install_finds_its_configs(tmp_path):
    """The wheel ships conf/ inside the package; run it from a folder that has no conf/."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("openrs-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "openrs/conf/experiment/exp3.yaml" in names and "openrs/eval_data/amc23.jsonl" in names
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    proc = run_openrs("-m", "openrs", "+experiment=exp1", "--cfg", "job", cwd=tmp_path, env={"PYTHONPATH": str(site)})
    assert proc.returncode == 0, proc.stderr
    assert "max_completion_length: 4096" in proc.stdout
    locate = run_openrs("-c", "import openrs; print(openrs.CONF_DIR)", cwd=tmp_path, env={"PYTHONPATH": str(site)})
    assert locate.stdout.strip() == str(site / "openrs" / "conf")
