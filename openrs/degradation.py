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
- onset: a change point. At every evaluation n the detector compares, for each candidate onset t, the mean
  score of the evaluations from t to n (each below the reference) with the best reference window of
  evaluations before t; the largest standardized drop over all (window, t) is the statistic, and its t the
  likeliest onset, which must have at least `persistence` evaluations from it to n. The standard error of
  one evaluation's score is pooled from each problem's spread of pass rates across the evaluations so far
  (it also holds any change over time, which errs on the safe side for small or saturated benchmarks). The
  threshold is the (1 - alpha) quantile of the statistic's maximum over all the run's evaluations on flat
  runs of independent normal scores (a Pocock-style boundary, simulated once per number of evaluations): on
  a flat run the chance of any alarm is about alpha when every evaluation samples the same problems the same
  number of times (measured 4.3 to 5.0% at alpha 0.05 for 30 to 500 problems, k = 1 to 16). It is exceeded
  on hard benchmarks with most pass rates near 0 (7.5% at k = 1, 6.5% at k = 4 for 30 problems of mean 6%)
  and when k changes between evaluations (6.3 to 10.2%; analyse warns). The first evaluation over the
  threshold confirms degradation at that onset. The rule only looks backwards, so the same function decides
  an early stop during training, given the number of evaluations the run plans. benchmarks/degradation.py
  measures false alarms and detection.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from functools import cache
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
    """The first evaluation at which the drop passed the threshold: an early stop decided online stops here."""


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


def _largest_drop(x: np.ndarray, persistence: int) -> tuple[np.ndarray, np.ndarray]:
    """The largest standardized drop at the last evaluation of runs x (runs x evaluations, scores in units
    of one evaluation's standard error; see the module docstring) -> (drop, its onset index), each (runs,);
    the drop is -inf where no candidate qualifies or fewer than `persistence` evaluations follow its onset."""
    runs, n = x.shape
    cum = np.concatenate([np.zeros((runs, 1)), np.cumsum(x, axis=1)], axis=1)
    best, onset = np.full(runs, -np.inf), np.zeros(runs, dtype=int)
    for t in range(1, n):
        after, before = n - t, t - np.arange(t)  # lengths of [t, n) and of the references [a, t), a = 0 .. t-1
        reference = (cum[:, t : t + 1] - cum[:, :t]) / before
        drop = (reference - ((cum[:, n] - cum[:, t]) / after)[:, None]) / np.sqrt(1 / before + 1 / after)
        drop[reference <= x[:, t:].max(axis=1, keepdims=True)] = -np.inf  # every evaluation since t is lower
        drop = drop.max(axis=1)
        better = drop > best
        best[better], onset[better] = drop[better], t
    # A dip at the last evaluations is its own likeliest onset: it waits for `persistence` evaluations.
    best[n - onset < persistence] = -np.inf
    return best, onset


@cache
def drop_threshold(looks: int, persistence: int, alpha: float, runs: int = 10_000) -> float:
    """The (1 - alpha) quantile of the largest standardized drop over `looks` evaluations of flat runs,
    from `runs` simulated runs of independent standard normal scores (fixed seed: the same every time)."""
    x = np.random.default_rng(0).standard_normal((runs, looks))
    drops = [_largest_drop(x[:, :n], persistence)[0] for n in range(persistence + 1, looks + 1)]
    return float(np.quantile(np.max(drops, axis=0), 1 - alpha)) if drops else np.inf


def analyse(results: Results, alpha: float = 0.05, persistence: int = 2, looks: int | None = None) -> Degradation:
    """Peak, best and onset steps of a run (see the module docstring). alpha: chance of a false alarm in a
    whole flat run; persistence: evaluations from the onset on that must show the drop; looks: evaluations
    the run plans (default: those in results; an early stop deciding mid-run must give the full count)."""
    if not results:
        raise ValueError("no evaluation results")
    m = rate_matrix(results)
    steps, scores = m.steps, m.mean(m.rates)
    half = NormalDist().inv_cdf(1 - alpha / 2) * m.standard_error(m.rates)
    per_step = [StepScore(s, float(v), float(v - h), float(v + h)) for s, v, h in zip(steps, scores, half, strict=True)]

    peak = int(np.argmax(scores))
    z_pair = NormalDist().inv_cdf(1 - alpha)
    tied = next(j for j in range(peak + 1) if not _significantly_below(m, j, peak, z_pair))

    first = results[steps[0]]
    unmet = [why for why, broken in [
        ("some problems were not evaluated at every step", any(len(r) != len(m.rates) for r in results.values())),
        ("problems were sampled a different number of times at different steps",
         any(r[k][1] != first[k][1] for r in results.values() for k in r.keys() & first.keys())),
        (f"{len(steps)} evaluations, more than the {looks} planned", looks is not None and len(steps) > looks),
    ] if broken]  # fmt: skip
    if unmet:
        why = "; ".join(unmet)
        warnings.warn(f"openrs.degradation: {why}: the onset's false-alarm level is not guaranteed (it assumes the "
                      "same problems and samples at every planned evaluation)", stacklevel=2)  # fmt: skip

    onset = confirmed = None
    threshold = drop_threshold(max(looks or 0, len(steps)), persistence, alpha)
    for n in range(persistence + 1, len(steps) + 1):
        # Each evaluation's standard error from the evaluations seen by then, as an early stop would have it.
        spread = m.rates[:, :n].var(axis=1, ddof=1)
        error = np.sqrt(sum(spread[g].mean() / len(g) for g in m.groups)) / len(m.groups)
        if error == 0:
            continue
        drop, at = _largest_drop(scores[None, :n] / error, persistence)
        if drop[0] > threshold:
            onset, confirmed = steps[at[0]], steps[n - 1]
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
    rng: np.random.Generator,
    problems: int,
    k: int | list[int],
    shifts: list[float],
    every: int = 50,
    difficulty: tuple[float, float] = (3, 1.5),
) -> dict[int, dict[str, tuple[int, int]]]:
    """A run's results with a known true curve, for planning eval budgets and testing the detector.

    Problem difficulty ~ Beta(*difficulty) (default: mean 67%, AMC23 where the paper started); at evaluation
    j every problem's pass rate is scaled so the mean moves by shifts[j] (a fraction); correct counts are
    Binomial(k, rate), k the samples per problem (or a list, one per evaluation). Steps are 0, every,
    2 * every, ..."""
    p = rng.beta(*difficulty, problems)
    samples = k if isinstance(k, list) else [k] * len(shifts)
    results = {}
    for j, (shift, n) in enumerate(zip(shifts, samples, strict=True)):
        correct = rng.binomial(n, np.clip(p * (1 + shift / p.mean()), 0, 1))
        results[j * every] = {str(i): (int(c), n) for i, c in enumerate(correct)}
    return results
