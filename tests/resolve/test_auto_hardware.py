"""hardware=auto picks the layout for the GPUs this machine shows (faked here with an nvidia-smi script on
PATH), and a model that cannot be had stops the job in seconds with exit 2."""

import os
import re
import stat
import sys

import pytest

from openrs.base.errors import ConfigError
from openrs.resolve.auto_hardware import vllm_cpu_prepacks


def fake_gpus(bin_dir, n: int | None) -> str:
    """A PATH whose nvidia-smi lists n GPUs (None: no nvidia-smi at all), plus the interpreter's folder."""
    bin_dir.mkdir(exist_ok=True)
    if n is not None:
        smi = bin_dir / "nvidia-smi"
        smi.write_text("#!/bin/sh\n" + "".join(f"echo 'GPU {i}: NVIDIA A40 (UUID: GPU-{i:08d})'\n" for i in range(n)))
        smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    return f"{bin_dir}{os.pathsep}{os.path.dirname(sys.executable)}{os.pathsep}/usr/bin:/bin"


@pytest.fixture
def auto_job(monkeypatch, tmp_path, job):
    """auto_job(gpus, *overrides, visible=None): exp3's job on hardware=auto, with gpus GPUs shown by nvidia-smi
    (None: no nvidia-smi) and CUDA_VISIBLE_DEVICES=visible (None: unset)."""

    def auto(gpus: int | None, *overrides: str, visible: str | None = None):
        monkeypatch.setenv("PATH", fake_gpus(tmp_path / "bin", gpus))
        if visible is None:
            monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        else:
            monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
        return job("+experiment=exp3", "reward=cosine", "hardware=auto", *overrides)

    return auto


def test_four_gpus_take_the_papers_node(auto_job):
    job = auto_job(4)
    hw = job.hardware
    assert (hw.num_processes, hw.gpus_per_machine, hw.vllm_mode, hw.deepspeed) == (3, 4, "server", "zero2")
    assert (job.batch.per_device, job.batch.world_size, job.batch.accumulation) == (6, 3, 4)
    assert "4 GPUs by nvidia-smi -> a40x4" in hw.detected
    # The network settings come from conf/config.yaml, shared by every preset; auto keeps an override of them.
    assert (hw.machine_rank, hw.main_process_ip, hw.main_process_port) == (0, "127.0.0.1", None)
    assert auto_job(4, "hardware.main_process_port=29555").hardware.main_process_port == 29555


@pytest.mark.parametrize("gpus", [1, 2, 3])
def test_fewer_gpus_train_colocated_on_every_gpu(auto_job, gpus):
    job = auto_job(gpus)
    hw = job.hardware
    assert (hw.num_processes, hw.gpus_per_machine, hw.vllm_mode) == (gpus, gpus, "colocate")
    b = job.batch
    assert b.per_device * b.world_size * b.accumulation == 72 and b.per_device <= 6
    assert f"-> colocate on {gpus}" in hw.detected


def test_cuda_visible_devices_limits_what_is_counted(auto_job):
    job = auto_job(4, visible="2,3")
    assert job.hardware.num_processes == 2 and "2 in CUDA_VISIBLE_DEVICES='2,3'" in job.hardware.detected
    with pytest.raises(ConfigError, match="found no GPU"):
        auto_job(4, visible="")


def test_no_gpu_refuses_a_large_model_and_runs_a_small_one_on_the_cpu(auto_job):
    with pytest.raises(ConfigError) as err:
        auto_job(None)
    assert "has 1.78B parameters" in str(err.value)
    assert "+experiment=smoke" in str(err.value) and "hardware=cpu" in str(err.value)
    job = auto_job(0, "model=tiny")
    assert job.hardware.accelerator == "cpu" and "-> cpu" in job.hardware.detected
    # A typo is reported before the hardware.
    with pytest.raises(ConfigError, match="trainer.max_steps"):
        auto_job(None, "trainer.max_steps=-1")


def test_no_gpu_refuses_a_corrupt_config_json_in_one_line_as_hardware_cpu_does(auto_job, tmp_path, job):
    (tmp_path / "config.json").write_text('{"model_type": "qwen2", "hidden_size": ')
    expected = f"model.name_or_path={tmp_path}: {tmp_path / 'config.json'} is not valid JSON (line 1, column 40"
    with pytest.raises(ConfigError, match=re.escape(expected)) as err:
        auto_job(None, f"model.name_or_path={tmp_path}")
    assert len(str(err.value).splitlines()) == 1
    # A typo is still reported before the hardware.
    with pytest.raises(ConfigError, match="trainer.max_steps"):
        auto_job(None, f"model.name_or_path={tmp_path}", "trainer.max_steps=-1")


def test_mission_command_plans_for_the_gpus_it_finds(tmp_path, run_openrs):
    command = ("-m", "openrs", "+experiment=exp3", "reward=cosine", "dry_run=true", f"hydra.run.dir={tmp_path}/run")
    env = {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    proc = run_openrs(*command, env={**env, "PATH": fake_gpus(tmp_path / "none", None)})
    assert proc.returncode == 2 and "+experiment=smoke" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_openrs(*command, env={**env, "PATH": fake_gpus(tmp_path / "four", 4)})
    assert proc.returncode == 0, proc.stderr
    assert "6 per device x 3 processes x 4 accumulation" in proc.stdout
    assert "vLLM server, DeepSpeed zero2 (hardware=auto: 4 GPUs by nvidia-smi -> a40x4)" in proc.stdout
    proc = run_openrs(*command, env={**env, "PATH": fake_gpus(tmp_path / "one", 1)})
    assert proc.returncode == 0 and "vLLM colocate" in proc.stdout and "6 per device x 1 processes x 12" in proc.stdout


@pytest.mark.parametrize(
    "value, problem",
    [
        ("nan", "Input should be a finite number"),  # a 20-line pydantic traceback before
        ("inf", "Input should be a finite number"),  # planned the 1.78B model on the CPU before
        ("-1", "Input should be greater than 0"),
    ],
)
def test_cpu_max_parameters_is_a_positive_finite_count(auto_job, value, problem):
    with pytest.raises(ConfigError) as err:
        auto_job(None, f"hardware.auto.cpu_max_parameters={value}")
    assert f"hardware.auto.cpu_max_parameters={value}: {problem}" in str(err.value)
    with pytest.raises(ConfigError, match="hardware.auto.cpu_max_parameters=nan"):  # whatever the GPUs
        auto_job(4, "hardware.auto.cpu_max_parameters=nan")


def test_a_bad_cpu_max_parameters_exits_2_with_one_message(tmp_path, run_openrs):
    proc = run_openrs("-m", "openrs", "+experiment=exp2", "hardware=auto", "hardware.auto.cpu_max_parameters=nan",
                      "dry_run=true", f"hydra.run.dir={tmp_path}/run",
                      env={"PATH": fake_gpus(tmp_path / "none", None)})  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr == (
        "openrs: invalid config:\n  hardware.auto.cpu_max_parameters=nan: Input should be a finite number\n"
    )


@pytest.mark.parametrize(
    "model, env, message",
    [
        ("/nonexistent/model", {}, "model.name_or_path=/nonexistent/model: no model directory there"),
        # Port 9 on this machine refuses at once: the hub is unreachable.
        ("owner/not-cached", {"HF_ENDPOINT": "http://127.0.0.1:9"}, "not in the Hugging Face cache and the hub is "
                                                                     "unreachable"),  # fmt: skip
        ("owner/not-cached", {"HF_HUB_OFFLINE": "1"}, "not in the Hugging Face cache and HF_HUB_OFFLINE is set"),
    ],
)
def test_a_model_that_cannot_be_had_exits_2_with_one_line(tmp_path, run_openrs, model, env, message):
    out = tmp_path / "run"
    proc = run_openrs("-m", "openrs", "+experiment=exp2", "hardware=cpu", f"model.name_or_path={model}",
                      f"hydra.run.dir={out}", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
                      env={"HF_HOME": str(tmp_path / "hf"), **env})  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("openrs:")]
    assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not (tmp_path / "mlflow.db").exists()


AVX512 = "flags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni\n"
AVX2 = "flags\t\t: fpu sse2 avx avx2 fma bmi2\n"


@pytest.mark.parametrize(
    "cpuinfo, env, prepacks",
    [
        (AVX512, {}, True),  # oneDNN has a bfloat16 matmul: vLLM prepacks, the colocated sync cannot load
        (AVX2, {}, False),  # it has none: vLLM keeps the parameters and the sync works
        ("flags\t\t: avx avx2 avx_ne_convert\n", {}, True),  # AVX2 with AVX-NE-CONVERT: bfloat16 again
        (AVX512, {"ONEDNN_MAX_CPU_ISA": "avx2"}, False),  # oneDNN capped below AVX-512 decides as on AVX2
        (AVX512, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, True),
        ("processor\t: 0\n", {}, True),  # flags unknown: not tried, refused
    ],
)
def test_vllm_cpu_prepacks_where_onednn_has_a_bfloat16_matmul(cpuinfo, env, prepacks):
    assert vllm_cpu_prepacks(cpuinfo, env) is prepacks
