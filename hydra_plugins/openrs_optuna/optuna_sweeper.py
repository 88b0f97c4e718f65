"""A Hydra sweeper that searches with Optuna's ask/tell API (Optuna >= 4; the published Hydra Optuna sweeper
pins optuna < 3). Config: conf/hydra/sweeper/optuna.yaml.

The study lives in `storage` (SQLite file or an RDB URL) under `study_name`: a restarted sweep loads it,
counts its finished trials towards n_trials, and runs again the trials a killed sweep left running. Each
trial is one job of the sweep (a child MLflow run); its objective is the job's return value, the selected
checkpoint's score. Jobs learn their trial through OPENRS_OPTUNA_TRIAL (storage, study, trial number) and
report their step-wise scores to it (openrs.pruning), so the study's pruner can stop a poor trial early.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf

from openrs.train import TRIAL_ENV

if TYPE_CHECKING:  # Hydra imports every plugin on every run: optuna (0.6 s) only loads when a search runs
    import optuna
    from optuna.distributions import BaseDistribution

log = logging.getLogger(__name__)


def distribution(override: Override) -> BaseDistribution:
    """Optuna distribution of a sweep override: choice(...) or a,b -> categorical, range(a,b[,step]) ->
    integers (or stepped floats), interval(a,b) -> floats; tag(log, ...) samples on a log scale."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    log_scale = "log" in value.tags
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution(value.list)
    if isinstance(value, RangeSweep):
        if all(isinstance(v, int) for v in (value.start, value.stop, value.step)):
            return IntDistribution(int(value.start), int(value.stop) - 1, step=int(value.step), log=log_scale)
        return FloatDistribution(value.start, value.stop, step=value.step, log=log_scale)
    if isinstance(value, IntervalSweep):
        if all(isinstance(v, int) for v in (value.start, value.end)):
            return IntDistribution(int(value.start), int(value.end), log=log_scale)
        return FloatDistribution(value.start, value.end, log=log_scale)
    raise ValueError(f"{override.input_line}: not a search space; use choice(), range(), interval() or a,b,c")


class OptunaSweeper(Sweeper):
    def __init__(self, study_name: str, storage: str, direction: str, n_trials: int, n_jobs: int, seed: int,
                 params: dict[str, str] | None = None):  # fmt: skip
        self.study_name, self.direction, self.seed = study_name, direction, seed
        self.n_trials, self.n_jobs, self.params = n_trials, n_jobs, dict(params or {})
        # A relative SQLite path is the working directory's, whatever folder the jobs run in.
        if storage.startswith("sqlite:///") and not storage.startswith("sqlite:////"):
            path = Path(storage.removeprefix("sqlite:///")).resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            storage = f"sqlite:///{path}"
        self.storage = storage

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _study(self) -> optuna.Study:
        import optuna
        from optuna.trial import TrialState

        if self.config.get("dry_run"):  # jobs that do not train must not enter the study as failed trials
            self.storage = None
            log.info("dry run: the trials go to a study in memory")
        study = optuna.create_study(
            study_name=self.study_name, storage=self.storage, direction=self.direction, load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=self.seed), pruner=optuna.pruners.MedianPruner(n_warmup_steps=1),
        )  # fmt: skip
        for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            # A killed sweep left it running: run the same parameters again, and close the old trial.
            study.enqueue_trial(stale.params, skip_if_exists=False)
            optuna.Trial(study, stale._trial_id).set_user_attr("interrupted", True)
            study.tell(stale.number, state=TrialState.FAIL)
            log.info(f"trial {stale.number} was interrupted; its parameters run again")
        return study

    def sweep(self, arguments: list[str]) -> Any:
        from optuna.trial import TrialState

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()] + arguments)
        space = {o.get_key_element(): distribution(o) for o in overrides if o.is_sweep_override()}
        fixed = [f"{o.get_key_element()}={o.get_value_element_as_str()}" for o in overrides
                 if not o.is_sweep_override()]  # fmt: skip
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        study = self._study()
        log.info(f"study {self.study_name} in {self.storage}: {self._finished(study)} of {self.n_trials} trials done")
        while (remaining := self.n_trials - self._finished(study)) > 0:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, remaining))]
            batch = [[*fixed, *(f"{k}={v}" for k, v in t.params.items()), self._trial_env(t.number)] for t in trials]
            results = self.launcher.launch(batch, initial_job_idx=trials[0].number)
            for trial, result in zip(trials, results, strict=True):
                self._tell(study, trial, result)
        best = study.best_trial if any(t.state == TrialState.COMPLETE for t in study.trials) else None
        summary = {"study": self.study_name, "storage": self.storage, "trials": len(study.trials)}
        if best is not None:
            summary |= {"best_trial": best.number, "best_value": best.value, "best_params": best.params}
        OmegaConf.save(OmegaConf.create(summary), sweep_dir / "optimization_results.yaml")
        log.info(f"best: {summary}")
        return summary

    def _trial_env(self, number: int) -> str:
        """The override that tells a job its trial (openrs.pruning reads it)."""
        trial = json.dumps({"storage": self.storage, "study": self.study_name, "trial": number})
        return f"+hydra.job.env_set.{TRIAL_ENV}='{trial}'"

    @staticmethod
    def _finished(study: optuna.Study) -> int:
        """Trials that ran to an end, not counting those closed because a killed sweep interrupted them."""
        from optuna.trial import TrialState

        ended = (TrialState.COMPLETE, TrialState.PRUNED)
        return sum(t.state in ended or (t.state == TrialState.FAIL and "interrupted" not in t.user_attrs)
                   for t in study.trials)  # fmt: skip

    @staticmethod
    def _tell(study: optuna.Study, trial: optuna.Trial, result) -> None:
        import optuna
        from optuna.trial import TrialState

        value = result._return_value
        if isinstance(value, optuna.TrialPruned):
            study.tell(trial, state=TrialState.PRUNED)
        elif isinstance(value, BaseException) or value is None or not math.isfinite(value):
            log.warning(f"trial {trial.number} failed: {value!r}")
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, float(value))
