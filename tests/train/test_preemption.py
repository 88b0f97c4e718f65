"""A real SIGTERM at each moment of a job, sent by the process to itself from inside what runs at that moment:
before the first step the job stops at once with nothing saved; once training runs it checkpoints the step under
way, after that step's evaluation, logging or checkpoint write, and never trains another step."""

import os
import signal
from pathlib import Path

import pytest
from transformers import Trainer

from openrs.evaluation.stepwise import StepwiseEvaluation
from openrs.train import recipe
from openrs.train.preemption import Preempted, handler

pytestmark = pytest.mark.slow

STEP = 2  # the step during whose evaluation, logging or checkpoint write the signal comes


@pytest.fixture
def handlers():
    """openrs's handlers in this process, as a launched rank installs them; pytest's back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    handler.install("loading")
    yield
    for s, previous in saved.items():
        signal.signal(s, previous)


def sigterm_inside(monkeypatch, owner, name: str, step_of=None, step: int = STEP) -> None:
    """Make owner.name send SIGTERM to this process as it starts, once (at trainer step `step` when step_of(args)
    gives the step); what it does then runs on."""
    original, sent = getattr(owner, name), []

    def wrapped(*args, **kwargs):
        if not sent and (step_of is None or step_of(args) == step):
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapped)


@pytest.fixture(scope="session")
def smoke_job(job):
    """smoke_job(out, save_steps=50, logging_steps=50): the smoke job for 6 steps into out; a checkpoint or a log at
    STEP only when save_steps or logging_steps says so."""

    def smoke(out: Path, save_steps: int = 50, logging_steps: int = 50):
        return job(
            "+experiment=smoke", "trainer.max_steps=6", f"trainer.save_steps={save_steps}",
            f"trainer.logging_steps={logging_steps}",
            f"eval.every_steps={STEP}", "eval.benchmarks=[arithmetic:easy]", "tracking=none", output_dir=str(out),
        )  # fmt: skip

    return smoke


def checkpoints(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("checkpoint-*"))


@pytest.mark.parametrize("moment", ["model load", "step-0 evaluation"])
def test_a_signal_before_the_first_step_stops_with_nothing_saved(tmp_path, monkeypatch, handlers, moment, smoke_job):
    # While the model loads: at once. During the step-0 evaluation (rank 0's, while other ranks wait for it): once
    # it is done, every rank together, before step 1.
    if moment == "model load":
        sigterm_inside(monkeypatch, recipe, "load_model")
    else:
        sigterm_inside(monkeypatch, StepwiseEvaluation, "_run", lambda args: args[1].global_step, step=0)
    with pytest.raises(Preempted, match="before training started"):
        recipe.train(smoke_job(tmp_path, save_steps=1, logging_steps=1), None)
    assert checkpoints(tmp_path) == [] and not (tmp_path / "final").exists()


@pytest.mark.parametrize("moment", ["step-wise evaluation", "logging", "checkpoint write"])
def test_a_signal_during_a_step_checkpoints_that_step_and_trains_no_other(
    tmp_path, monkeypatch, handlers, moment, smoke_job
):
    # Only the moment's own work happens at STEP: no log at STEP during its evaluation, no checkpoint during its log.
    if moment == "step-wise evaluation":
        sigterm_inside(monkeypatch, StepwiseEvaluation, "_run", lambda args: args[1].global_step)
        job = smoke_job(tmp_path)
    elif moment == "logging":  # the step's log (transformers logs, then decides on the step's checkpoint)
        sigterm_inside(monkeypatch, Trainer, "log", lambda args: args[0].state.global_step)
        job = smoke_job(tmp_path, logging_steps=STEP)
    else:
        sigterm_inside(monkeypatch, Trainer, "_save_checkpoint", lambda args: args[0].state.global_step)
        job = smoke_job(tmp_path, save_steps=STEP)
    assert recipe.train(job, None) is None  # stopped, not finished
    assert checkpoints(tmp_path) == [f"checkpoint-{STEP}"] and not (tmp_path / "final").exists()
