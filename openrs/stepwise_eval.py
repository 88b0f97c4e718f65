"""Step-wise evaluation during training: every `eval.every_steps` optimizer steps (and at step 0), the
current policy is evaluated on the eval preset's benchmarks on the main process; the other ranks wait.

Results go to OUTPUT_DIR/eval/step-N/ (per_problem.jsonl, summary.csv, report.md; the tracking and selection
code reads them) and into the trainer's log history as eval/<benchmark>/pass@1 (with _low, _high)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from transformers import TrainerCallback

from openrs.config import JobConfig
from openrs.evaluation import evaluate, summarize, write_report
from openrs.generation import trainer_generator


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
        # Evaluation must not change the training run: sample from a forked RNG, seeded the same each time.
        with torch.random.fork_rng(devices=[torch.cuda.current_device()] if torch.cuda.is_available() else []):
            torch.manual_seed(job.seed)
            results = evaluate(generate, self.trainer.processing_class, job.eval, job.prompt.system, job.reward.grading)
        out = Path(job.output_dir) / "eval" / f"step-{step}"
        print(write_report(results, out, f"step {step}"), file=sys.stderr, flush=True)
        entry = {"step": step}
        for row in summarize(results):
            for key in ("pass@1", "low", "high"):
                entry[f"eval/{row['benchmark']}/{key}"] = row[key]
        state.log_history.append(entry)
