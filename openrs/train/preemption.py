"""What SIGTERM (SLURM's preemption and time-limit path, `kill`, `timeout`) and Ctrl-C (SIGINT) do to a job.

One handler for the whole process, in four phases:
  held      the job is checked and its run folder, job.yaml and MLflow run are written: the signal is noted and
            acts when loading begins (`arm`), so none of those is half-written;
  loading   imports, data, the model load (minutes for a warm start): nothing is trained yet, nothing to save,
            and the signal raises Preempted at once;
  starting  from trainer.train() to the first step (a resumed checkpoint's load, the step-0 evaluation, which
            rank 0 runs while the other ranks wait for it): the signal is noted, and all ranks stop together,
            raising Preempted, as the first step would begin;
  training  from the first step on: the signal is noted, and the job checkpoints the step under way once that
            step's evaluation, logging and checkpoint write are done, then stops, without training another step.
A second Ctrl-C stops at once, without a checkpoint.
"""

from __future__ import annotations

import signal
import sys

from openrs.base.collective import any_rank


class Preempted(BaseException):
    """A signal came before training started. A BaseException, as KeyboardInterrupt is: no `except Exception`
    on the way (a loader's, a retry loop's) swallows it."""


class Preemption:
    def __init__(self):
        self.phase, self.requested, self.stopped = "held", False, False

    def install(self, phase: str = "held") -> None:
        """Handle SIGTERM and SIGINT from now on, in `phase` ("held" or "loading"), with no signal noted yet."""
        self.phase, self.requested, self.stopped = phase, False, False
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def arm(self) -> None:
        """Loading begins: raise Preempted if a signal came while held; from now on one raises it at once."""
        self.phase, self.stopped = "loading", False
        if self.requested:
            raise Preempted("stopped by a signal before training started")

    def signalled(self) -> bool:
        """Whether a signal came. A pending handler runs first: Python runs handlers as a Python function begins."""
        return self.requested

    def _on_signal(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.phase == "loading":
            self.requested = True
            raise Preempted(f"stopped by {name} before training started")
        if signum == signal.SIGINT and self.requested:
            raise KeyboardInterrupt
        self.requested = True
        after = {"held": "stopping before the model loads", "starting": "stopping before the first step"}.get(
            self.phase, "saving a checkpoint after this step"
        )
        print(f"openrs: {name} received, {after}", file=sys.stderr, flush=True)

    def start(self) -> None:
        """trainer.train() begins: from now on a signal is noted, and acted on as the first step begins."""
        self.phase = "starting"

    def _stop_after_this_step(self, state, control) -> bool:
        """Whether a signal reached any rank while training would go on; every rank calls this at the same point
        (the conditions before the collective are the same on every rank)."""
        if control.should_training_stop or state.global_step >= state.max_steps:
            return False
        self.stopped = any_rank(self.requested)
        control.should_training_stop = self.stopped
        return self.stopped

    def callback(self):
        """The TrainerCallback acting on a noted signal. Add it after every other callback: it checks again once
        the step's evaluation (on_step_end), logging (on_log) and checkpoint write (on_save) are done."""
        from transformers import TrainerCallback

        preemption = self

        class PreemptionCallback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                if preemption.phase == "starting":  # the first step: every rank is here
                    if any_rank(preemption.requested):
                        raise Preempted("stopped by a signal before training started")
                    preemption.phase = "training"

            def on_step_end(self, args, state, control, **kwargs):
                if preemption._stop_after_this_step(state, control):
                    control.should_save = True

            def on_log(self, args, state, control, **kwargs):
                # Before the step's checkpoint decision (transformers logs, then saves).
                if preemption._stop_after_this_step(state, control):
                    control.should_save = True

            def on_save(self, args, state, control, **kwargs):
                preemption._stop_after_this_step(state, control)  # this step's checkpoint is written

        return PreemptionCallback()


# Signal handlers belong to the process: one Preemption for it. Refer to it through this module
# (`preemption.handler`): submitit pickles the Hydra job function by value with the globals it names, and a name
# bound to this object would travel as a copy that training never updates.
handler = Preemption()
