"""A Hydra sweeper that searches with Optuna's ask/tell API (Optuna >= 4; the published Hydra Optuna sweeper
pins optuna < 3). Config: conf/hydra/sweeper/optuna.yaml.

The study lives in `storage` (SQLite file or an RDB URL) under `study_name`: a restarted sweep loads it and
counts its finished trials towards n_trials. Each trial is one job of the sweep (a child MLflow run); its
objective is the job's return value, the selected checkpoint's score. Jobs learn their trial through
OPENRS_OPTUNA_TRIAL (storage, study, trial number, pruner) and report their step-wise scores to it
(openrs.selection.pruning), so the study's pruner can stop a poor trial early.

Several sweepers may share a study: each marks its running trials with its host, pid and a heartbeat. A running
trial whose sweeper is gone (its pid ended on this host, or no heartbeat for stale_after_s) was interrupted: it
is closed as failed, its MLflow run too, and its parameters run again.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf

from openrs.base.trial import TRIAL_ENV, TRIAL_TAG, encode_trial

if TYPE_CHECKING:  # Hydra imports every plugin on every run: optuna (0.6 s) only loads when a search runs
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

log = logging.getLogger(__name__)

# User attribute of a running trial: {"host", "pid", "beat": unix seconds} of the sweeper that runs it.
OWNER = "sweeper"


def distribution(override: Override) -> BaseDistribution:
    """Optuna distribution of a sweep override: choice(...) or a,b -> categorical, range(a,b[,step]) ->
    integers or stepped floats from a up to, not including, b (as Hydra's range), interval(a,b) -> floats
    (Hydra reads its bounds as floats); tag(log, ...) samples on a log scale."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    log_scale = "log" in getattr(value, "tags", ())
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution(value.list)
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if all(isinstance(v, int) for v in (start, stop, step)):
            return IntDistribution(start, stop - 1, step=step, log=log_scale)
        last = start + (math.ceil((stop - start) / step - 1e-9) - 1) * step  # Optuna's high is included
        return FloatDistribution(start, round(last, 12), step=step, log=log_scale)
    if isinstance(value, IntervalSweep):
        return FloatDistribution(value.start, value.end, log=log_scale)
    raise ValueError(f"{override.input_line}: not a search space; use choice(), range(), interval() or a,b,c")


def alive(trial: FrozenTrial, stale_after_s: float) -> bool:
    """Whether the sweeper running this trial still runs it: a heartbeat newer than stale_after_s (the trial's
    start when none was written yet) and, on this host, its process still there."""
    owner = trial.user_attrs.get(OWNER) or {}
    beat = owner.get("beat", trial.datetime_start.timestamp() if trial.datetime_start else 0.0)
    if time.time() - beat > stale_after_s:
        return False
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        pass
    return True


class OptunaSweeper(Sweeper):
    def __init__(self, study_name: str, storage: str, direction: str, n_trials: int, n_jobs: int,
                 sampler: DictConfig, pruner: DictConfig, stale_after_s: float,
                 params: dict[str, str] | None = None):  # fmt: skip
        from openrs.tracking.store import store_uri

        self.study_name, self.storage, self.direction = study_name, store_uri(storage), direction
        self.n_trials, self.n_jobs, self.params = n_trials, n_jobs, dict(params or {})
        self.sampler, self.pruner, self.stale_after_s = sampler, pruner, stale_after_s

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from optuna.trial import TrialState

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        # One override per key; the command line's wins over hydra.sweeper.params.
        searched = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()])
        overrides = {o.get_key_element(): o for o in [*searched, *parser.parse_overrides(arguments)]}
        space = {k: distribution(o) for k, o in overrides.items() if o.is_sweep_override()}
        fixed = [f"{k}={o.get_value_element_as_str()}" for k, o in overrides.items() if not o.is_sweep_override()]
        self._check(space, fixed)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        study = self._study()
        log.info(f"study {self.study_name} in {self.storage}: {self._finished(study)} of {self.n_trials} trials done")
        while (remaining := self.n_trials - self._finished(study) - self._reclaim(study)) > 0:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, remaining))]
            try:
                batch = [[*fixed, *(f"{k}={v}" for k, v in t.params.items()), self._trial_env(t.number)]
                         for t in trials]  # fmt: skip
                with self._heartbeat(trials):
                    results = self.launcher.launch(batch, initial_job_idx=trials[0].number)
            except Exception as err:  # the launcher itself failed: no trial may stay running
                for trial in trials:
                    self._failed(study, trial, err)
                raise
            except BaseException:  # Ctrl-C: these trials were interrupted, a restart runs them again
                for trial in trials:
                    self._interrupted(study, trial, "the sweep was stopped")
                raise
            for trial, result in zip(trials, results, strict=True):
                self._tell(study, trial, result)
        best = study.best_trial if any(t.state == TrialState.COMPLETE for t in study.trials) else None
        summary = {"study": self.study_name, "storage": self.storage, "trials": len(study.trials)}
        if best is not None:
            summary |= {"best_trial": best.number, "best_value": best.value, "best_params": best.params}
        OmegaConf.save(OmegaConf.create(summary), sweep_dir / "optimization_results.yaml")
        log.info(f"best: {summary}")
        return summary

    def _check(self, space: dict, fixed: list[str]) -> None:
        """Refuse a search that cannot run, before the study changes: no search space, no step-wise evaluation
        (the objective and the pruner need it), or a choice that does not compose (a missing config option)."""
        from optuna.distributions import CategoricalDistribution

        if not space:
            raise ValueError(
                "hydra.sweeper.params has nothing to search: give a search space, e.g. hydra.sweeper.params."
                "trainer.learning_rate='tag(log, interval(1e-6, 1e-4))' (see sweeps/optuna_smoke.yaml)"
            )
        choices = [[f"{k}={v}"] for k, d in space.items() if isinstance(d, CategoricalDistribution) for v in d.choices]
        for probe in [[], *choices]:
            try:
                config = self.hydra_context.config_loader.load_sweep_config(self.config, [*fixed, *probe])
            except Exception as err:  # noqa: BLE001 - Hydra's errors name the option and the choices there are
                what = " ".join(probe or fixed)
                raise ValueError(f"hydra.sweeper.params: {what} does not compose: {err}") from None
            if "eval.every_steps" not in space and OmegaConf.select(config, "eval.every_steps") is None:
                raise ValueError(
                    "eval.every_steps=null: an Optuna trial is scored and pruned by its step-wise evaluations; "
                    "set eval.every_steps (e.g. eval.every_steps=50)"
                )

    def _study(self) -> optuna.Study:
        import optuna
        from hydra.utils import instantiate

        if self.config.get("dry_run"):  # jobs that do not train must not enter the study as failed trials
            self.storage = None
            log.info("dry run: the trials go to a study in memory")
        return optuna.create_study(
            study_name=self.study_name, storage=self.storage, direction=self.direction, load_if_exists=True,
            sampler=instantiate(self.sampler), pruner=instantiate(self.pruner),
        )  # fmt: skip

    def _reclaim(self, study: optuna.Study) -> int:
        """Close the running trials whose sweeper is gone (their parameters run again); return how many trials
        other sweepers are still running, which count towards n_trials too."""
        from optuna.trial import TrialState

        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        for stale in (t for t in running if not alive(t, self.stale_after_s)):
            self._interrupted(study, stale, "its sweeper stopped")
        return sum(alive(t, self.stale_after_s) for t in running)

    def _interrupted(self, study: optuna.Study, trial: FrozenTrial | optuna.Trial, why: str) -> None:
        """Close an interrupted trial and its MLflow run as failed, and queue its parameters again; nothing when
        another sweeper closed it first."""
        import optuna
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        try:
            optuna.Trial(study, trial._trial_id).set_user_attr("interrupted", True)
            study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, UpdateFinishedTrialError):  # closed already: by another sweeper, or by its own
            return
        study.enqueue_trial(trial.params, skip_if_exists=False)
        log.info(f"trial {trial.number} was interrupted ({why}); its parameters run again")
        uri = OmegaConf.select(self.config, "tracking.uri")
        if uri is not None and self.storage is not None:
            from openrs.tracking.sweep_summary import close_dead_runs

            try:
                close_dead_runs(uri, f"tags.`{TRIAL_TAG}` = '{self.study_name}:{trial.number}'", f"interrupted: {why}")
            except Exception as err:  # noqa: BLE001 - the study is right; only the run's status lags
                log.warning(f"the MLflow run of trial {trial.number} could not be closed: {err}")

    @contextlib.contextmanager
    def _heartbeat(self, trials: list[optuna.Trial]):
        """Mark the trials as this sweeper's, and renew the mark while the launcher runs them."""
        stop = threading.Event()

        def beat() -> None:
            owner = {"host": socket.gethostname(), "pid": os.getpid(), "beat": time.time()}
            for trial in trials:
                trial.set_user_attr(OWNER, owner)

        def renew() -> None:
            while not stop.wait(self.stale_after_s / 5):
                try:
                    beat()
                except Exception as err:  # noqa: BLE001 - a busy store: the next beat is in time
                    log.warning(f"trial heartbeat not written: {err}")

        beat()
        thread = threading.Thread(target=renew, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _trial_env(self, number: int) -> str:
        """The override that tells a job its trial and the pruner (read by openrs.selection.pruning and
        openrs.tracking)."""
        pruner = OmegaConf.to_container(self.pruner, resolve=True)
        trial = encode_trial({"storage": self.storage, "study": self.study_name, "trial": number, "pruner": pruner})
        return f"+hydra.job.env_set.{TRIAL_ENV}='{trial}'"

    @staticmethod
    def _finished(study: optuna.Study) -> int:
        """Trials that ran to an end, not counting those closed because a killed sweep interrupted them."""
        from optuna.trial import TrialState

        ended = (TrialState.COMPLETE, TrialState.PRUNED)
        return sum(t.state in ended or (t.state == TrialState.FAIL and "interrupted" not in t.user_attrs)
                   for t in study.trials)  # fmt: skip

    @staticmethod
    def _failed(study: optuna.Study, trial: optuna.Trial, error) -> None:
        """Close a trial as failed with its error (a user attribute), unless it was closed already."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        with contextlib.suppress(UpdateFinishedTrialError):
            trial.set_user_attr("error", f"{type(error).__name__}: {error}"[:1000])
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)

    @staticmethod
    def _tell(study: optuna.Study, trial: optuna.Trial, result) -> None:
        import optuna
        from optuna.trial import TrialState

        value = result._return_value
        # skip_if_finished: another sweeper that took this one for gone may have closed it already.
        if isinstance(value, optuna.TrialPruned):
            study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
        elif isinstance(value, BaseException) or value is None or not math.isfinite(value):
            log.warning(f"trial {trial.number} failed: {value!r}")
            OptunaSweeper._failed(study, trial, value)
        else:
            study.tell(trial, float(value), skip_if_finished=True)
