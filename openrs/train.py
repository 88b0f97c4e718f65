"""The GRPO recipe: a validated JobConfig in, a trained and checkpointed model out.

Runs in one process (hardware=cpu) or as one rank of an `accelerate launch` (openrs.launch); it never
composes Hydra configs itself. Resuming continues from the newest complete checkpoint; SIGTERM (what
SLURM sends before preemption) or SIGINT (Ctrl-C) saves a checkpoint at the end of the current step and
stops; the job then exits with `requeue_exit_code` (openrs.__main__, openrs.launch).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from openrs.config import ConfigError, JobConfig

# transformers writes trainer_state.json after the weights, optimizer, scheduler and RNG state: a checkpoint whose
# trainer_state.json parses is complete (is_complete).
COMPLETE_MARKER = "trainer_state.json"
# Written by rank 0 of a launched job that stopped on SIGTERM after checkpointing (openrs.rank, openrs.launch).
PREEMPTED_MARKER = "preempted"
# Written by the Hydra process of a tracked job (openrs.tracking): the MLflow store and run id.
RUN_FILE = "mlflow_run.json"
# Set by the Optuna sweeper for a job that is a trial; the job writes PRUNED_MARKER when pruned (openrs.pruning).
TRIAL_ENV = "OPENRS_OPTUNA_TRIAL"
# The MLflow tag of a trial's run, "study:number" (openrs.tracking): how the sweeper finds the run of a trial.
TRIAL_TAG = "openrs.optuna_trial"
PRUNED_MARKER = "pruned"


def encode_trial(spec: dict) -> str:
    """TRIAL_ENV's value for a trial spec (storage, study, trial number, pruner): base64 JSON, so that any
    storage path or study name (quotes, backslashes, ${...}) survives Hydra's override grammar."""
    return base64.b64encode(json.dumps(spec).encode()).decode()


def trial_spec() -> dict | None:
    """The Optuna trial this job runs (encode_trial's spec, from TRIAL_ENV); None outside a search."""
    value = os.environ.get(TRIAL_ENV)
    return json.loads(base64.b64decode(value)) if value else None


def is_complete(checkpoint: Path) -> bool:
    """Whether checkpoint was completely written: its trainer_state.json, the last file saved, is a readable
    JSON object (a full disk or a kill mid-write leaves it empty or cut short)."""
    try:
        return isinstance(json.loads((checkpoint / COMPLETE_MARKER).read_text()), dict)
    except (OSError, ValueError):
        return False


def checkpoints(directory: Path) -> Iterator[Path]:
    """The complete (is_complete) `checkpoint-N` folders in directory, newest (highest N) first, lazily."""
    found = [p for p in directory.glob("checkpoint-*") if p.name[11:].isdigit()]
    return (p for p in sorted(found, key=lambda p: -int(p.name[11:])) if is_complete(p))


def newest_checkpoint(directory: Path) -> Path | None:
    """The highest-step `checkpoint-N` in directory that was completely written (is_complete), else None."""
    return next(checkpoints(directory), None)


def resume_checkpoint(job: JobConfig) -> Path | None:
    """Checkpoint to resume from: none (resume=false), the newest in output_dir (resume=true; none yet
    is a fresh start), or the given checkpoint or run directory (which must hold one)."""
    if job.resume is False:
        return None
    if job.resume is True:
        return newest_checkpoint(Path(job.output_dir))
    path = Path(job.resume)
    found = path if is_complete(path) else newest_checkpoint(path)
    if found is None:
        raise ConfigError(
            f"resume={job.resume!r}: no complete checkpoint there (a checkpoint-N with a readable {COMPLETE_MARKER}); "
            "give a run folder or checkpoint that has one, or resume=false"
        )
    return found


def model_path(job: JobConfig) -> str:
    """Where the weights come from: a hub id or directory, or a locally built model (tiny, or scaled down)."""
    if job.model.tiny is not None:
        from openrs.tiny import tiny_model_path

        return str(tiny_model_path(job.model.tiny))
    if job.model.scaled is not None:
        from openrs.miniature import scaled_model_path

        return str(scaled_model_path(job.model))
    return job.model.name_or_path


def load_tokenizer(job: JobConfig):
    """The model's tokenizer (with its chat template), or model.tokenizer when set."""
    from transformers import AutoTokenizer

    path, m = model_path(job), job.model
    revision = None if Path(path).exists() else m.revision
    return AutoTokenizer.from_pretrained(m.tokenizer or path, revision=revision, trust_remote_code=m.trust_remote_code)


def load_model(job: JobConfig):
    """The policy in the hardware's dtype (safetensors only; remote code only when the config allows it)."""
    import torch
    from transformers import AutoModelForCausalLM

    path, m = model_path(job), job.model
    return AutoModelForCausalLM.from_pretrained(
        path,
        revision=None if Path(path).exists() else m.revision,
        dtype=getattr(torch, job.hardware.dtype),
        trust_remote_code=m.trust_remote_code,
        use_safetensors=True,
        attn_implementation=job.hardware.attn_implementation,
    )


def any_rank(flag: bool) -> bool:
    """Whether flag is set on any rank of the job (every rank must call this at the same point); flag itself
    without a process group."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(float(flag), device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


class _Preemption:
    """SIGTERM or SIGINT (Ctrl-C) -> save a checkpoint after the current optimizer step, then stop training. A
    second Ctrl-C stops at once, without a checkpoint."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.requested:
            raise KeyboardInterrupt
        name = signal.Signals(signum).name
        print(f"openrs: {name} received, saving a checkpoint after this step", file=sys.stderr, flush=True)
        self.requested = True

    def agreed(self) -> bool:
        """Whether any rank was asked to stop: signals reach ranks at different moments, and a rank that stops
        alone leaves the others waiting in the next step's collectives."""
        self.requested = any_rank(self.requested)
        return self.requested

    def callback(self):
        from transformers import TrainerCallback

        preemption = self

        class PreemptionCallback(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if preemption.agreed():
                    control.should_save = True
                    control.should_training_stop = True
                return control

        return PreemptionCallback()


def build_trainer(job: JobConfig, callbacks=()):
    """GRPOTrainer for the job: model, tokenizer, rewards with weights, the job's GRPOConfig and data,
    step-wise evaluation when eval.every_steps is set, the early stop and cost count, and MLflow logging on
    the main process of a tracked job."""
    from trl import GRPOConfig, GRPOTrainer

    from openrs.data import training_dataset
    from openrs.rewards import build_rewards

    tokenizer = load_tokenizer(job)
    # Data before weights: a bad source or column fails in seconds, not after a model load.
    dataset, _ = training_dataset(job, tokenizer)
    trainer = GRPOTrainer(
        model=load_model(job),
        reward_funcs=build_rewards(job.reward),
        args=GRPOConfig(**job.grpo_kwargs()),
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=list(callbacks),
    )
    if job.eval.every_steps is not None:
        from openrs.stepwise_eval import StepwiseEvaluation

        trainer.add_callback(StepwiseEvaluation(job, trainer))
    from openrs.early_stop import EarlyStop

    trainer.add_callback(EarlyStop(job, trainer.accelerator.is_main_process))
    if trial_spec() is not None:  # an Optuna trial (openrs.pruning)
        from openrs.pruning import Pruning

        trainer.add_callback(Pruning(job, trainer.accelerator.is_main_process))
    out = Path(job.output_dir)
    if trainer.accelerator.is_main_process and (out / RUN_FILE).is_file():
        from openrs.tracking import logging_callback

        # Last, so that it sees the entries the callbacks above add at the same step.
        trainer.add_callback(logging_callback(out))
    return trainer


def train(job: JobConfig) -> Path | None:
    """Train the job to trainer.max_steps and return the final model's directory; None when SIGTERM
    stopped it early (a checkpoint of the last finished step is saved)."""
    preemption = _Preemption()
    checkpoint = resume_checkpoint(job)
    trainer = build_trainer(job, callbacks=[preemption.callback()])
    state = trainer.accelerator.state
    if state.num_processes > 1:
        print(f"openrs: rank {state.process_index} of {state.num_processes} ({state.distributed_type.value})")
    if checkpoint is not None:
        print(f"openrs: resuming from {checkpoint}", file=sys.stderr)
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    if preemption.requested:
        print(f"openrs: preempted at step {trainer.state.global_step}; resume with resume=true", file=sys.stderr)
        return None
    final = Path(job.output_dir) / "final"
    trainer.save_model(str(final))
    return final
