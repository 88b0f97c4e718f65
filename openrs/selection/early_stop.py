"""Early stop and cost during training.

After each step-wise evaluation the main process runs the degradation analysis (openrs.selection.degradation) on the
evaluations so far, with the threshold for all the evaluations the run plans (once per evaluation: Optuna
pruning reads the same analysis, analysis_at); once degradation is confirmed
every rank saves a checkpoint and training stops. Time spent, GPU-hours (time x hardware GPUs) and their cost
at hardware.gpu_hourly_usd go into the trainer's log history (and so MLflow) as cost/*; at an early stop also
what running on to max_steps would have cost, at the run's pace.
"""

from __future__ import annotations

import sys
import time
from functools import lru_cache
from pathlib import Path

from transformers import TrainerCallback

from openrs.base.collective import any_rank
from openrs.config.job import JobConfig
from openrs.run_folder import eval_dir
from openrs.selection.degradation import Degradation, analyse, load_run


def analysis_at(job: JobConfig, step: int) -> Degradation:
    """The degradation analysis of the job's step-wise evaluations as they stand at `step`, computed once
    per evaluation and shared by the callbacks that read it (early stop, Optuna pruning)."""
    return _analysis(str(eval_dir(job.output_dir)), step, tuple(job.degradation_levels().items()))


@lru_cache(maxsize=1)
def _analysis(evaluations: str, step: int, levels: tuple) -> Degradation:
    return analyse(load_run(Path(evaluations)), **dict(levels))


class EarlyStop(TrainerCallback):
    def __init__(self, job: JobConfig, is_main_process: bool):
        self.job, self.is_main = job, is_main_process
        self.started, self.start_step, self.hours_before = time.monotonic(), 0, 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.started, self.start_step = time.monotonic(), state.global_step
        # A resumed job continues the count of the run it resumes (its history came with the checkpoint).
        self.hours_before = next((e["cost/hours"] for e in reversed(state.log_history) if "cost/hours" in e), 0.0)

    def on_step_end(self, args, state, control, **kwargs):
        every, step = self.job.eval.every_steps, state.global_step
        if every is None or step % every:
            return
        analysis = None
        if self.is_main and self.job.selection.early_stop:
            analysis = analysis_at(self.job, step)
        if not any_rank(analysis is not None and analysis.confirmed_at is not None):
            state.log_history.append(self.cost(step))
            return
        control.should_save = control.should_training_stop = True
        entry = self.cost(step, saved_steps=self.job.trainer.max_steps - step)
        if analysis is not None:
            entry |= {"early_stop/best_step": analysis.peak_step, "early_stop/onset_step": analysis.onset_step}
            print(
                f"openrs: degradation confirmed at step {step} (onset {analysis.onset_step}, best step "
                f"{analysis.peak_step}); stopping early, {entry.get('cost/gpu_hours_saved', 0):.2f} GPU-hours saved",
                file=sys.stderr,
            )
        state.log_history.append(entry)

    def on_train_end(self, args, state, control, **kwargs):
        state.log_history.append(self.cost(state.global_step))

    def cost(self, step: int, saved_steps: int = 0) -> dict:
        """cost/* entry at step: hours (wall clock), gpu_hours, usd; with saved_steps > 0 also the GPU-hours
        and usd those steps would have taken at this job's mean pace so far."""
        elapsed = (time.monotonic() - self.started) / 3600
        hours, gpus, price = self.hours_before + elapsed, self.job.hardware.gpus, self.job.hardware.gpu_hourly_usd
        entry = {"step": step, "cost/hours": hours, "cost/gpu_hours": hours * gpus}
        if saved_steps > 0 and step > self.start_step:
            entry["cost/gpu_hours_saved"] = elapsed / (step - self.start_step) * saved_steps * gpus
        if price is not None:
            entry |= {k.replace("gpu_hours", "usd"): v * price for k, v in entry.items() if "gpu_hours" in k}
        return entry
