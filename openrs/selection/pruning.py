"""Optuna pruning during training: when the Optuna sweeper (hydra_plugins/openrs_optuna) runs this job as a
trial, it sets OPENRS_OPTUNA_TRIAL; after each step-wise evaluation the main process reports the step's
score (the mean over benchmarks, as the selection scores it; the early stop's analysis of that evaluation,
openrs.selection.early_stop.analysis_at) to the trial, and when the sweeper's pruner
says so every rank saves a checkpoint and stops. The job then ends as a pruned trial (PRUNED_MARKER)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from transformers import TrainerCallback

from openrs.base.collective import any_rank
from openrs.base.trial import trial_spec
from openrs.config.job import JobConfig
from openrs.run_folder import PRUNED_MARKER
from openrs.selection.early_stop import analysis_at

if TYPE_CHECKING:
    import optuna


def trial_of(spec: dict) -> optuna.Trial:
    """The trial a job runs, from the sweeper's spec: storage, study, trial number and the pruner's config
    (a study loaded without it would judge with Optuna's default pruner)."""
    import optuna
    from hydra.utils import instantiate

    study = optuna.load_study(study_name=spec["study"], storage=spec["storage"], pruner=instantiate(spec["pruner"]))
    trial_id = next(t._trial_id for t in study.get_trials(deepcopy=False) if t.number == spec["trial"])
    return optuna.Trial(study, trial_id)


class Pruning(TrainerCallback):
    def __init__(self, job: JobConfig, is_main_process: bool):
        self.job, self.is_main = job, is_main_process
        self.trial = None
        if is_main_process:
            self.trial = trial_of(trial_spec())

    def on_step_end(self, args, state, control, **kwargs):
        every, step = self.job.eval.every_steps, state.global_step
        if every is None or step % every:
            return
        prune = False
        if self.trial is not None:
            self.trial.report(analysis_at(self.job, step).scores[-1].score, step)
            prune = self.trial.should_prune()
        if any_rank(prune):
            control.should_save = control.should_training_stop = True
            if self.is_main:
                (Path(self.job.output_dir) / PRUNED_MARKER).touch()
