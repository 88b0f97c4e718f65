"""hardware=auto: the layout for the GPUs this machine shows, chosen when the job is composed.

GPUs are counted without importing torch (so `dry_run` stays light): `nvidia-smi -L`, within
CUDA_VISIBLE_DEVICES when that is set (SLURM and the GPU-slot launcher give each job its own). With no GPU, the
model's size (from its config.json) decides whether a CPU may train it. The layouts and the CPU size limit are data,
in conf/hardware/auto.yaml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from omegaconf import OmegaConf

from openrs import CONF_DIR
from openrs.config.hardware import AutoHardware
from openrs.model.source import estimated_parameters


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


def resolve_auto(raw: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The composed job with `hardware: {auto: ...}` replaced by the preset chosen for this machine, merged over
    the network settings every preset shares (other jobs unchanged), and the reason to refuse the job, if any: no
    GPU and a model too large (or of unknown size) for a CPU. The caller raises it after the rest of the job
    validated, so a typo is reported before hardware."""
    hardware = raw.get("hardware")
    if not isinstance(hardware, dict) or "auto" not in hardware:
        return raw, None
    auto = AutoHardware.model_validate(hardware["auto"])
    gpus, how = detect_gpus()
    refusal = None
    if gpus == 0:
        params = estimated_parameters(raw.get("model") or {})
        if params is None or params > auto.cpu_max_parameters:
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
