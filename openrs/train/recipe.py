"""The GRPO recipe: a validated JobConfig in, a trained and checkpointed model out.

Runs in one process (hardware=cpu) or as one rank of an `accelerate launch` (openrs.train.launch); it never
composes Hydra configs itself. Resuming continues from the newest complete checkpoint; SIGTERM (what
SLURM sends before preemption) or SIGINT (Ctrl-C) stops it (openrs.train.preemption: a checkpoint of the step
under way once training runs); the job then exits with `requeue_exit_code` (openrs.__main__, openrs.train.launch).

Read top to bottom: `train` (the recipe), `build_trainer` (its parts and the callbacks' order), then
`grpo_kwargs` (how a JobConfig maps onto TRL's GRPOConfig).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from trl import GRPOConfig, GRPOTrainer

from openrs.base.trial import trial_spec
from openrs.config.job import JobConfig
from openrs.data.dataset import training_dataset
from openrs.evaluation.stepwise import StepwiseEvaluation
from openrs.model.card import write_model_card
from openrs.model.loading import load_model, load_tokenizer
from openrs.rewards import build_rewards
from openrs.run_folder import FINAL_DIR, RUN_FILE
from openrs.selection.early_stop import EarlyStop
from openrs.selection.pruning import Pruning
from openrs.tracking.run_log import logging_callback
from openrs.train import preemption
from openrs.train.logprobs import score_at_temperature


def train(job: JobConfig, checkpoint: Path | None) -> Path | None:
    """Train the job to trainer.max_steps, from `checkpoint` when not None (run_folder.resume_checkpoint, resolved
    by the job's controller), and return the final model's directory; None when a signal stopped it after a step
    (that step's checkpoint is saved). Raises Preempted when one came before the first step (the process's
    handler: openrs.train.preemption)."""
    preemption.handler.arm()
    trainer = build_trainer(job)
    state = trainer.accelerator.state
    if state.num_processes > 1:
        print(f"openrs: rank {state.process_index} of {state.num_processes} ({state.distributed_type.value})")
    if checkpoint is not None:
        print(f"openrs: resuming from {checkpoint}", file=sys.stderr)
    preemption.handler.start()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    if preemption.handler.stopped:
        print(f"openrs: preempted at step {trainer.state.global_step}; resume with resume=true", file=sys.stderr)
        return None
    final = Path(job.output_dir) / FINAL_DIR
    trainer.save_model(str(final))
    if trainer.accelerator.is_main_process:
        write_model_card(job, final, trainer.state.global_step)
    return final


def build_trainer(job: JobConfig):
    """GRPOTrainer for the job: model, tokenizer, rewards with weights, the job's GRPOConfig and data, and
    openrs's callbacks.

    At the end of a step the callbacks run in this order, which matters:
    1. step-wise evaluation (eval.every_steps set): writes eval/step-N and adds its scores to the log history;
    2. early stop: the degradation analysis of the evaluations so far (openrs.selection.early_stop.analysis_at);
       save and stop once degradation is confirmed; cost entries in the log history;
    3. Optuna pruning (a trial only): reports the score of that same analysis to the study; save and stop
       when pruned;
    4. MLflow logging (main process of a tracked job): logs what 1-3 added at this step;
    5. preemption: after a signal, save this step and stop; last, so that a signal during 1-4 (or during the
       step's logging and checkpoint write, which follow) never lets another step train."""
    tokenizer = load_tokenizer(job.model)
    # Data before weights: a bad source or column fails in seconds, not after a model load.
    dataset, _ = training_dataset(job, tokenizer)
    trainer = GRPOTrainer(
        model=load_model(job.model, job.hardware),
        reward_funcs=build_rewards(job.reward),
        args=GRPOConfig(**grpo_kwargs(job)),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    if job.trainer.logprob_temperature is not None:
        score_at_temperature(trainer, job.trainer.logprob_temperature)
    main = trainer.accelerator.is_main_process
    out = Path(job.output_dir)

    def model_card(**_) -> None:  # TRL calls this at each checkpoint; its card cannot name a model built here
        if main:
            write_model_card(job, out, trainer.state.global_step, weights_here=False)

    trainer.create_model_card = model_card
    if job.eval.every_steps is not None:
        trainer.add_callback(StepwiseEvaluation(job, trainer))
    trainer.add_callback(EarlyStop(job, main))
    if trial_spec() is not None:
        trainer.add_callback(Pruning(job, main))
    if main and (out / RUN_FILE).is_file():
        trainer.add_callback(logging_callback(out))
    trainer.add_callback(preemption.handler.callback())
    return trainer


def grpo_kwargs(job: JobConfig) -> dict[str, Any]:
    """Keyword arguments for trl.GRPOConfig: everything the job fixes (lengths in tokens), under the names of
    the installed transformers."""
    from dataclasses import fields

    from transformers import TrainingArguments

    t, hw, batch = job.trainer, job.hardware, job.batch
    # Later transformers 5 releases renamed gradient_checkpointing* (the old names warn; TRL reads the mirrored
    # old names); the gpu extra's vLLM pins a transformers that has only the old ones.
    renamed = "activation_checkpointing" in {f.name for f in fields(TrainingArguments)}
    checkpointing = "activation_checkpointing" if renamed else "gradient_checkpointing"
    kwargs: dict[str, Any] = dict(
        output_dir=job.output_dir,
        seed=job.seed,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler_type,
        # transformers 5 takes a float in [0, 1) here as a share of max_steps.
        warmup_steps=t.warmup_ratio,
        max_steps=t.max_steps,
        per_device_train_batch_size=batch.per_device,
        gradient_accumulation_steps=batch.accumulation,
        num_generations=t.num_generations,
        temperature=t.temperature,
        top_p=t.top_p,
        beta=t.beta,
        epsilon=t.epsilon,
        epsilon_high=t.epsilon_high,
        num_iterations=t.num_iterations,
        loss_type=t.loss_type,
        scale_rewards=t.scale_rewards,
        mask_truncated_completions=t.mask_truncated_completions,
        use_bias_correction_kl=t.use_bias_correction_kl,
        optim=t.optim,
        average_tokens_across_devices=t.average_tokens_across_devices,
        max_grad_norm=t.max_grad_norm,
        weight_decay=t.weight_decay,
        **{checkpointing: t.gradient_checkpointing,
           f"{checkpointing}_kwargs": {"use_reentrant": False} if t.gradient_checkpointing else None},
        save_strategy="steps",
        save_steps=t.save_steps,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        log_completions=t.log_completions,
        max_completion_length=job.length.max_completion_length,
        reward_weights=list(job.reward.weights),
        bf16=hw.dtype == "bfloat16",
        fp16=hw.dtype == "float16",
        use_vllm=hw.vllm_mode is not None,
        # openrs logs to MLflow itself (rank 0, its own run layout).
        report_to=[],
    )
    if hw.accelerator == "cpu" and hw.deepspeed:
        # Without it accelerate finds no backend on a machine without GPUs and counts one process, while
        # DeepSpeed's CPU accelerator joins all ranks: its batch check then fails.
        kwargs["ddp_backend"] = "gloo"
    if t.lr_scheduler_type == "cosine_with_min_lr":
        kwargs["lr_scheduler_kwargs"] = {"min_lr_rate": t.min_lr_rate}
    if hw.vllm_mode is not None:
        kwargs.update(
            vllm_mode=hw.vllm_mode,
            vllm_gpu_memory_utilization=hw.vllm_gpu_memory_utilization,
            vllm_max_model_length=job.length.max_model_length,
            vllm_importance_sampling_correction=t.vllm_importance_sampling_correction,
        )
    if hw.vllm_mode == "server":
        kwargs.update(vllm_server_port=hw.vllm_server_port, vllm_group_port=hw.vllm_group_port)
    return kwargs
