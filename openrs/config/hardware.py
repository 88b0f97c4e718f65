"""Typed schema of the hardware group: processes, memory per device, dtype, vLLM mode, DeepSpeed; how a global
batch splits over the processes; and the schema of hardware=auto's choices (conf/hardware/auto.yaml), which
openrs.resolve.auto_hardware applies."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from openrs.base.errors import ConfigError
from openrs.config.schema import Schema


class HardwareConfig(Schema):
    accelerator: Literal["cpu", "gpu"]
    """Where the job trains: `cpu` (plain PyTorch, float32) or `gpu` (CUDA)."""
    num_machines: int = Field(gt=0)
    """Machines of a multi-machine job (each starts the same command with its machine_rank)."""
    gpus_per_machine: int = Field(ge=0)
    """GPUs the job holds on each machine: the training ranks, plus one for a vLLM server; 0 on a CPU."""
    num_processes: int = Field(gt=0)
    """Training processes per machine."""
    max_per_device_batch: int = Field(gt=0)
    """Most completions one process holds in a micro-batch; gradient accumulation makes up the global batch."""
    dtype: Literal["float32", "bfloat16", "float16"]
    """Weights and compute dtype; a CPU runs float32."""
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"]
    """transformers' attention kernel."""
    vllm_mode: Literal["colocate", "server"] | None
    """null: transformers generates; colocate: vLLM inside each rank; server: vLLM on its own GPU."""
    vllm_gpu_memory_utilization: float = Field(ge=0, le=1)
    """Share of each GPU's memory (of the machine's memory on a CPU) a vLLM engine takes for weights and KV cache."""
    vllm_enforce_eager: bool
    """The vLLM engines openrs starts itself (evaluation, curation's judge, server mode's server; not TRL's colocated
    engine) skip graph compilation: they start faster and generate slower (measured in benchmarks/README.md, vLLM
    on a CPU)."""
    deepspeed: Literal["zero2", "zero3"] | None
    """DeepSpeed ZeRO stage (config in conf/deepspeed/), or null."""
    gpu_hourly_usd: float | None = Field(ge=0)
    """Price of one GPU for one hour, US dollars, for the cost of a run; null reports no cost."""
    machine_rank: int = Field(ge=0)
    """This machine's rank in a multi-machine job."""
    main_process_ip: str
    """Address of rank 0's machine, reachable from the others."""
    main_process_port: int | None = Field(gt=0, lt=65536)
    """Where rank 0 listens; null on one machine: a free port, chosen when the job launches."""
    vllm_server_port: int | None = Field(gt=0, lt=65536)
    """The vLLM server's HTTP port on this machine (vllm_mode=server); null: a free one, chosen at launch."""
    vllm_group_port: int | None = Field(gt=0, lt=65536)
    """The port the ranks send weights to the vLLM server through; null: a free one, chosen at launch."""
    detected: str | None = None
    """Written by hardware=auto (openrs.resolve.auto_hardware): what it found and the layout it chose; not a setting."""

    @property
    def launched(self) -> bool:
        """Whether the job runs as children (accelerate ranks, a vLLM server) rather than in-process."""
        return self.world_size > 1 or self.vllm_mode == "server"

    @property
    def world_size(self) -> int:
        """Training processes over all machines."""
        return self.num_machines * self.num_processes

    @property
    def gpus(self) -> int:
        """GPUs the job holds over all machines (0 on a CPU)."""
        return self.num_machines * self.gpus_per_machine if self.accelerator == "gpu" else 0

    @model_validator(mode="after")
    def _consistent(self) -> HardwareConfig:
        if self.accelerator == "cpu" and self.dtype != "float32":
            raise ValueError(f"hardware.accelerator=cpu runs float32, but dtype={self.dtype}: use dtype=float32")
        if self.vllm_mode is not None and self.vllm_gpu_memory_utilization == 0:
            raise ValueError(
                f"hardware.vllm_mode={self.vllm_mode} needs hardware.vllm_gpu_memory_utilization > 0 (the share of "
                "memory a vLLM engine takes), e.g. 0.3"
            )
        if self.num_machines > 1 and self.main_process_port is None:
            raise ValueError(
                f"hardware.num_machines={self.num_machines} needs hardware.main_process_port, the same on every machine"
            )
        needed = self.num_processes + (1 if self.vllm_mode == "server" else 0)
        if self.accelerator == "gpu" and needed > self.gpus_per_machine:
            raise ValueError(
                f"hardware needs {needed} GPUs per machine ({self.num_processes} training"
                f"{' + 1 vLLM server' if self.vllm_mode == 'server' else ''}) but gpus_per_machine="
                f"{self.gpus_per_machine}"
            )
        return self


class BatchPlan(BaseModel):
    """How one optimizer step's completions are split: per_device x world_size x accumulation."""

    per_device: int
    world_size: int
    accumulation: int


def plan_batch(global_batch: int, world_size: int, max_per_device: int) -> BatchPlan:
    """Split `global_batch` completions over `world_size` ranks with the fewest accumulation steps.

    Raises ConfigError when no per-device batch <= max_per_device reaches global_batch exactly.
    """
    for accumulation in range(1, global_batch + 1):
        per_rank_step, rest = divmod(global_batch, world_size * accumulation)
        if rest == 0 and per_rank_step <= max_per_device:
            return BatchPlan(per_device=per_rank_step, world_size=world_size, accumulation=accumulation)
    raise ConfigError(
        f"trainer.global_batch_size={global_batch} cannot be split exactly over {world_size} training "
        f"processes with at most hardware.max_per_device_batch={max_per_device} completions each: choose a "
        f"global batch that is a multiple of {world_size}, or a hardware preset with a process count "
        f"that divides {global_batch}"
    )


class AutoHardwareConfig(Schema):
    layouts: dict[int, str] = Field(min_length=1)
    """Fewest GPUs -> the hardware preset used from that many GPUs up; a colocate preset takes every GPU found."""
    cpu_max_parameters: float = Field(gt=0)
    """With no GPU, models of at most this many parameters train on hardware=cpu; larger ones, and ones of unknown
    size, are refused."""


