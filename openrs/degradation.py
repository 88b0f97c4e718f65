"""Where a run peaked, where it degraded, and which checkpoint to keep, from per-problem eval results by
step (the step-wise evaluation's per_problem.jsonl files).

A step's score is the mean over benchmarks of each benchmark's mean pass rate (the paper's Avg column;
one benchmark of 500 problems does not drown one of 40). Every comparison is paired: two steps are scored
on the same problems, and the test is on the per-problem differences of pass rate, which cancels the spread
of difficulty between problems (far more sensitive than comparing two means with their own intervals).
Tests are one-sided z-tests on the weighted mean difference, with the standard error stratified by
benchmark (from the spread of the differences within each).

- peak: the step with the highest score.
- earliest tied: the earliest step whose score is not significantly below the peak. openrs.select keeps the
  peak instead: on simulated runs its true score is closer to the best (benchmarks/early_stop.py).
- onset: the first step t at which the score is significantly below the best score seen before t, and
  stays so for `persistence` evaluations in a row (t and the ones after it); each test runs at alpha / t^2,
  corrected for picking that best among t earlier steps and for testing again at every evaluation. The
  bound is not exact (the tests overlap); benchmarks/degradation.py measures the false-alarm rate of whole
  runs of 10 evaluations, 1.0 to 4.4% at alpha 0.05; much longer runs may exceed alpha. The rule only
  looks backwards, so the same function decides an early stop during training: degradation is confirmed
  at the last evaluation of the persistence window.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np

Results = Mapping[int, Mapping[Hashable, tuple[int, int]]]
"""step -> problem key -> (correct, samples). Keys (benchmark, id) group problems by benchmark; any other
key puts all problems in one group."""


@dataclass
class StepScore:
    step: int
    score: float
    """Mean over benchmarks of the mean pass rate over their problems, a fraction."""
    low: float
    high: float
    """Normal-approximation interval over problems at the analysis level."""


@dataclass
class Degradation:
    scores: list[StepScore]
    peak_step: int
    earliest_tied_step: int
    onset_step: int | None
    """First step of a confirmed, persisting significant drop; None when there is none."""
    confirmed_at: int | None
    """The evaluation at which the onset was confirmed (the end of the persistence window): an early stop
    decided online stops here."""


@dataclass
class RateMatrix:
    steps: list[int]
    """Evaluated steps, ascending."""
    rates: np.ndarray
    """problems x steps pass rates, over the problems every step evaluated."""
    groups: list[np.ndarray]
    """Row indices of each benchmark's problems."""

    def mean(self, columns: np.ndarray) -> np.ndarray:
        """Benchmark-weighted mean of each column of columns (problems x m) -> (m,)."""
        return np.mean([columns[g].mean(axis=0) for g in self.groups], axis=0)

    def standard_error(self, columns: np.ndarray) -> np.ndarray:
        """Standard error of mean(columns), stratified by benchmark -> (m,)."""
        var = [columns[g].var(axis=0, ddof=1) / len(g) for g in self.groups if len(g) > 1]
        return np.sqrt(np.sum(var, axis=0) if var else np.zeros(columns.shape[1])) / len(self.groups)


def rate_matrix(results: Results) -> RateMatrix:
    """The pass rates of the problems every step evaluated, grouped by benchmark."""
    steps = sorted(results)
    common = set.intersection(*(set(results[s]) for s in steps))
    if not common:
        raise ValueError("no problem was evaluated at every step: the steps cannot be compared")
    keys = sorted(common, key=str)
    rates = np.array([[results[s][k][0] / results[s][k][1] for s in steps] for k in keys], dtype=float)
    benchmark = [k[0] if isinstance(k, tuple) else "" for k in keys]
    groups = [np.flatnonzero(np.array(benchmark) == b) for b in sorted(set(benchmark))]
    return RateMatrix(steps, rates, groups)


def _significantly_below(m: RateMatrix, lower: int, upper: int, z: float) -> bool:
    """Whether column `lower` scores significantly below column `upper` (paired, one-sided)."""
    d = (m.rates[:, upper] - m.rates[:, lower])[:, None]
    mean, se = m.mean(d)[0], m.standard_error(d)[0]
    return bool(mean > 0) if se == 0 else bool(mean / se > z)


def analyse(results: Results, alpha: float = 0.05, persistence: int = 2) -> Degradation:
    """Peak, best and onset steps of a run (see the module docstring). alpha: one-sided level, before the
    corrections; persistence: evaluations in a row that must show the drop."""
    if not results:
        raise ValueError("no evaluation results")
    m = rate_matrix(results)
    steps, scores = m.steps, m.mean(m.rates)
    half = NormalDist().inv_cdf(1 - alpha / 2) * m.standard_error(m.rates)
    per_step = [StepScore(s, float(v), float(v - h), float(v + h)) for s, v, h in zip(steps, scores, half, strict=True)]

    peak = int(np.argmax(scores))
    z_pair = NormalDist().inv_cdf(1 - alpha)
    tied = next(j for j in range(peak + 1) if not _significantly_below(m, j, peak, z_pair))

    onset = confirmed = None
    for t in range(1, len(steps) - persistence + 1):
        ref = int(np.argmax(scores[:t]))  # the best score before t: all the early stop could know
        # alpha / t for picking that best among t earlier steps, and / t again for testing anew at every
        # evaluation (calibrated by simulation, see the module docstring).
        z = NormalDist().inv_cdf(1 - alpha / t**2)
        if all(_significantly_below(m, u, ref, z) for u in range(t, t + persistence)):
            onset, confirmed = steps[t], steps[t + persistence - 1]
            break
    return Degradation(per_step, steps[peak], steps[tied], onset, confirmed)


def load_run(eval_dir: Path) -> dict[int, dict[tuple[str, str], tuple[int, int]]]:
    """Results of a run from OUTPUT_DIR/eval/step-N/per_problem.jsonl files, keyed (benchmark, id)."""
    results: dict[int, dict[tuple[str, str], tuple[int, int]]] = {}
    for path in sorted(eval_dir.glob("step-*/per_problem.jsonl")):
        step = int(path.parent.name.removeprefix("step-"))
        rows = (json.loads(line) for line in path.read_text().splitlines())
        results[step] = {(r["benchmark"], str(r["id"])): (r["correct"], r["samples"]) for r in rows}
    return results


def simulate_run(
    rng: np.random.Generator, problems: int, k: int, shifts: list[float], every: int = 50
) -> dict[int, dict[str, tuple[int, int]]]:
    """A run's results with a known true curve, for planning eval budgets and testing the detector.

    Problem difficulty ~ Beta(3, 1.5) (mean 67%, AMC23 where the paper started); at evaluation j every
    problem's pass rate is scaled so the mean moves by shifts[j] (a fraction); correct counts are
    Binomial(k, rate). Steps are 0, every, 2 * every, ..."""
    p = rng.beta(3, 1.5, problems)
    results = {}
    for j, shift in enumerate(shifts):
        correct = rng.binomial(k, np.clip(p * (1 + shift / p.mean()), 0, 1))
        results[j * every] = {str(i): (int(c), k) for i, c in enumerate(correct)}
    return results
