"""Step-wise evaluation during training: every `eval.every_steps` optimizer steps (and at step 0), the
current policy is evaluated on the eval preset's benchmarks on the main process; the other ranks wait.

Results go to OUTPUT_DIR/eval/step-N/ (per_problem.jsonl, summary.csv, report.md; the tracking and selection
code reads them) and into the trainer's log history (and so MLflow) as benchmark/<benchmark>/pass_at_1 with
pass_at_1_low and pass_at_1_high (the 95% interval), truncated, mean_tokens and non_english; <benchmark> is
`average` for the mean over benchmarks, and a file's stem for a benchmark given as a path."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from transformers import TrainerCallback

from openrs.config.job import JobConfig
from openrs.evaluation.backends import trainer_generator
from openrs.evaluation.harness import evaluate, summarize, write_report
from openrs.run_folder import eval_step_dir
from openrs.tracking.metadata import eval_metric


class StepwiseEvaluation(TrainerCallback):
    def __init__(self, job: JobConfig, trainer):
        self.job, self.trainer = job, trainer

    def on_train_begin(self, args, state, control, **kwargs):
        if state.global_step == 0:  # not when resuming: that step was evaluated before
            self._run(state)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.job.eval.every_steps == 0:
            self._run(state)

    def _run(self, state) -> None:
        generate = trainer_generator(self.trainer, self.job.eval.batch_size)
        if generate is None:  # not the main process
            return
        job, step = self.job, state.global_step
        # Evaluation must not change the training run: sample from a forked RNG. Seeded by step, so a rerun
        # samples alike while evaluations' sampling noise stays independent, as openrs.selection.degradation assumes.
        with torch.random.fork_rng(devices=[torch.cuda.current_device()] if torch.cuda.is_available() else []):
            torch.manual_seed(job.seed + step)
            results = evaluate(generate, self.trainer.processing_class, job.eval, job.prompt.text, job.reward.grading)
        out = eval_step_dir(job.output_dir, step)
        print(write_report(results, out, f"step {step}", job.eval.protocol), file=sys.stderr, flush=True)
        entry = {"step": step}
        for row in summarize(results):
            name = Path(row["benchmark"]).stem if "/" in row["benchmark"] else row["benchmark"]
            keys = {"pass@1": "pass_at_1", "low": "pass_at_1_low", "high": "pass_at_1_high", "truncated": "truncated",
                    "mean_tokens": "mean_tokens", "non_english": "non_english"}  # fmt: skip
            entry |= {eval_metric(name, ours): row[theirs] for theirs, ours in keys.items() if theirs in row}
        state.log_history.append(entry)
