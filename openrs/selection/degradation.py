"""Where a run peaked, where it degraded, and which checkpoint to keep, from per-problem eval results by
step (the step-wise evaluation's per_problem.jsonl files).

A step's score is the mean over benchmarks of each benchmark's mean pass rate (the paper's Avg column;
one benchmark of 500 problems does not drown one of 40). Every comparison is paired: two steps are scored
on the same problems, and the test is on the per-problem differences of pass rate, which cancels the spread
of difficulty between problems (far more sensitive than comparing two means with their own intervals).
Tests are one-sided z-tests on the weighted mean difference, with the standard error stratified by
benchmark (from the spread of the differences within each).

- peak: the step with the highest score.
- earliest tied: the earliest step whose score is not significantly below the peak. openrs.selection keeps the
  peak instead: on simulated runs its true score is closer to the best (benchmarks/early_stop.py).
- onset: a change point. At every evaluation n the detector compares, for each candidate onset t with at
  least `persistence` evaluations from it to n, the mean score of the evaluations from t to n (each at least
  two of its standard errors below the reference) with the best reference window of evaluations before t;
  the largest standardized drop over all (window, t) is the statistic, and its t the likeliest onset. So a
  decline that keeps steepening is judged at an onset with evaluations behind it, not at its newest and
  deepest point.
- the standard error has two parts. Sampling: one evaluation's sampling error is pooled from each
  problem's spread of pass rates across the evaluations so far (it also holds any change over time, which
  errs on the safe side). Checkpoint variation: the true score of a policy moves from checkpoint to
  checkpoint by itself, so the drop's variance is scaled by 1 + (variation / sampling variance), the
  variation estimated from the run: the excess of the squared second differences of the scores over what
  sampling explains (blind to a linear trend, and leaving out those that touch the candidate onset's step),
  pulled towards zero on short runs as if 6 more second differences had shown none.
- threshold: one per evaluation, the same quantile of the statistic at each, set by simulation so that a
  flat run raises an alarm at any of the run's planned evaluations with chance at most alpha, whether the
  checkpoint variation is absent or up to `variation` (a standard deviation of the true score, 2 points by
  default), independent from checkpoint to checkpoint or autocorrelated (AR(1), rho 0.5). The estimate
  cannot tell variation from a decline on a short run, which is why the assumed largest variation bounds
  it: beyond it false alarms rise. The assumptions: the same problems and samples per problem at every
  planned evaluation (analyse warns otherwise), roughly normal scores, and checkpoint variation no larger
  than `variation`. The first evaluation over its threshold confirms degradation at that onset. The rule
  only looks backwards, so the same function decides an early stop during training, given the number of
  evaluations the run plans. benchmarks/degradation.py measures false alarms and detection.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from statistics import NormalDist

import numpy as np

from openrs.run_folder import evaluated_steps

Results = Mapping[int, Mapping[Hashable, tuple[int, int]]]
"""step -> problem key -> (correct, samples). Keys (benchmark, id) group problems by benchmark; any other
key puts all problems in one group."""

# How far below the reference, in one evaluation's standard errors, every evaluation from the onset on must lie.
_MARGIN = 2
# A short run's variation estimate is pulled towards zero as if this many more second differences had shown none.
_SHRINK = 6
# The most seeds Drop.seeds_to_confirm counts up to.
_MOST_SEEDS = 64
# Checkpoint variation the threshold is calibrated against: (variance as a share of the largest assumed, AR(1)
# lag-one correlation). No variation, the largest independent or autocorrelated, and a quarter of it
# autocorrelated: the false-alarm level is the worst of these.
_CASES = ((0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (0.25, 0.5))


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
    checkpoint_sd: float | None
    """The run's checkpoint-to-checkpoint standard deviation of the true score as the detector estimates it
    from all evaluations (leaving out the step into the onset; shrunk on short runs), a fraction; None when
    it has fewer than 3 evaluations or no sampling error."""
    drop: Drop | None = None
    """The largest drop over all evaluations (the evaluations from some step on below those before it, confirmed or
    not) and what it would take to confirm it; None when there is none (or no sampling error)."""


@dataclass
class Drop:
    """The largest drop the detector sees over all of a run's evaluations (its statistic, standardized, without the
    rule that each evaluation after the onset lie low), against the smallest one of that shape it confirms at the
    same problems, samples and number of evaluations: without noise, its standard error times the threshold, or the
    margin, whichever is larger. Averaging k seeds' curves divides both the sampling error and the checkpoint
    variation by sqrt(k); the threshold grows as the sampling error shrinks, since it holds for checkpoint
    variation up to `variation`, so below some size no number of seeds confirms a drop."""

    onset_step: int
    """The first step of the lower evaluations."""
    size: float
    """How far the evaluations from onset_step lie below the reference evaluations before it, a fraction."""
    smallest_confirmable: float
    """The smallest drop of this shape, at these problems and samples, that the detector confirms, a fraction."""
    seeds_to_confirm: int | None
    """Seeds whose curves, averaged, would confirm a drop of this size (1: this run's does); None: more than
    _MOST_SEEDS, or none at the detector's checkpoint-variation bound."""
    samples_now: int
    """Samples per problem of the evaluations."""
    problems: int


@dataclass
class RateMatrix:
    steps: list[int]
    """Evaluated steps, ascending."""
    rates: np.ndarray
    """problems x steps pass rates, over the problems every step evaluated."""
    samples: np.ndarray
    """problems x steps samples per problem."""
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
    counts = np.array([[results[s][k] for s in steps] for k in keys], dtype=float)  # problems x steps x 2
    benchmark = [k[0] if isinstance(k, tuple) else "" for k in keys]
    groups = [np.flatnonzero(np.array(benchmark) == b) for b in sorted(set(benchmark))]
    return RateMatrix(steps, counts[..., 0] / counts[..., 1], counts[..., 1], groups)


def _significantly_below(m: RateMatrix, lower: int, upper: int, z: float) -> bool:
    """Whether column `lower` scores significantly below column `upper` (paired, one-sided)."""
    d = (m.rates[:, upper] - m.rates[:, lower])[:, None]
    mean, se = m.mean(d)[0], m.standard_error(d)[0]
    return bool(mean > 0) if se == 0 else bool(mean / se > z)


def _variation_ratio(x: np.ndarray) -> np.ndarray:
    """Checkpoint variation estimated from runs x (runs x n evaluations, scores in units of one evaluation's
    sampling error) for each candidate onset t: the excess of the second differences' spread over what
    sampling explains, as a ratio of variances (variation / sampling), (runs, n); column t leaves out the
    second differences that touch the step into t, so that a drop there does not count as variation. Second
    differences ignore a linear trend. Shrunk towards zero as if _SHRINK more second differences had shown
    none, so that a short run is not judged by two."""
    runs, n = x.shape
    second = np.zeros((runs, n + 1))  # column c + 1: the second difference centred on evaluation c, 1 .. n-2
    second[:, 2:n] = (x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]) ** 2 / 6 - 1  # 6: its variance from sampling alone
    inside = np.zeros(n + 1)
    inside[2:n] = 1
    t = np.arange(n)
    left_out, count = second[:, t] + second[:, t + 1], inside[t] + inside[t + 1]  # centred on t - 1 and t
    return np.maximum(second.sum(axis=1, keepdims=True) - left_out, 0) / (max(n - 2, 0) - count + _SHRINK)


def _largest_drop(x: np.ndarray, persistence: int, margin: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The largest standardized drop at the last evaluation of runs x (runs x evaluations, scores in units
    of one evaluation's sampling error; see the module docstring) -> (drop, its onset index, its standard error in
    those units), each (runs,); onsets are those with at least `persistence` evaluations from them on (and, with
    margin, with every evaluation from them on _MARGIN standard errors below the reference); a drop of -inf where
    none qualifies."""
    runs, n = x.shape
    cum = np.concatenate([np.zeros((runs, 1)), np.cumsum(x, axis=1)], axis=1)
    inflation = 1 + _variation_ratio(x)
    best, onset, unit = np.full(runs, -np.inf), np.zeros(runs, dtype=int), np.ones(runs)
    rows = np.arange(runs)
    for t in range(1, n - persistence + 1):
        after, before = n - t, t - np.arange(t)  # lengths of [t, n) and of the references [a, t), a = 0 .. t-1
        reference = (cum[:, t : t + 1] - cum[:, :t]) / before
        error = np.sqrt((1 / before + 1 / after) * inflation[:, t : t + 1])
        drop = (reference - ((cum[:, n] - cum[:, t]) / after)[:, None]) / error
        # Every evaluation since t must be lower, by _MARGIN of its standard errors: else the evaluation before a
        # sudden drop, as high as the peak, would pass as the onset and one low evaluation confirm the drop.
        low_enough = reference - _MARGIN * np.sqrt(inflation[:, t : t + 1]) > x[:, t:].max(axis=1, keepdims=True)
        if margin:
            drop[~low_enough] = -np.inf
        widest = drop.argmax(axis=1)
        drop, error = drop[rows, widest], error[rows, widest]
        better = drop > best
        best[better], onset[better], unit[better] = drop[better], t, error[better]
    return best, onset, unit


@cache
def drop_thresholds(looks: int, persistence: int, alpha: float, ratio: float, runs: int = 2500) -> np.ndarray:
    """Thresholds of the largest standardized drop at each number of evaluations n (entry n; inf up to
    `persistence`), from `runs` simulated flat runs per case of _CASES (fixed seed: the same every time):
    independent standard normal sampling errors plus checkpoint variation of up to `ratio` times their
    variance. Every n gets the same quantile of its statistic (the largest over the cases), set so that the
    chance of any alarm in `looks` evaluations is at most alpha in every case."""
    if looks <= persistence:
        return np.full(looks + 1, np.inf)
    rng = np.random.default_rng(0)
    cases = []
    for share, rho in _CASES if ratio > 0 else _CASES[:1]:
        x = rng.standard_normal((runs, looks)) + checkpoint_variation(rng, (runs, looks), np.sqrt(share * ratio), rho)
        cases.append(np.stack([_largest_drop(x[:, :n], persistence)[0] for n in range(persistence + 1, looks + 1)], 1))
    ordered = [np.sort(c, axis=0) for c in cases]
    low, high = 0, runs - 1  # the quantile's rank: the smallest whose thresholds keep every case's alarms <= alpha
    while low < high:
        rank = (low + high) // 2
        level = np.max([o[rank] for o in ordered], axis=0)
        low, high = (low, rank) if max(np.mean(np.any(c > level, axis=1)) for c in cases) <= alpha else (rank + 1, high)
    return np.concatenate([np.full(persistence + 1, np.inf), np.max([o[low] for o in ordered], axis=0)])


def _rounded_up(ratio: float) -> float:
    """ratio rounded up to a power of sqrt(2) (at least 1/64), so that nearby ratios share one calibration."""
    return 2 ** (math.ceil(2 * math.log2(max(ratio, 1 / 64))) / 2) if ratio > 0 else 0.0


def analyse(
    results: Results, alpha: float = 0.05, persistence: int = 2, looks: int | None = None, variation: float = 0.02
) -> Degradation:
    """Peak, best and onset steps of a run (see the module docstring). alpha: chance of a false alarm in a
    whole flat run; persistence: evaluations from the onset on that must show the drop; looks: evaluations
    the run plans (default: those in results; an early stop deciding mid-run must give the full count);
    variation: the largest standard deviation of the true score from checkpoint to checkpoint (a fraction)
    that the false-alarm level holds for."""
    if not results:
        raise ValueError("no evaluation results")
    m = rate_matrix(results)
    steps, scores = m.steps, m.mean(m.rates)
    half = NormalDist().inv_cdf(1 - alpha / 2) * m.standard_error(m.rates)
    per_step = [StepScore(s, float(v), float(v - h), float(v + h)) for s, v, h in zip(steps, scores, half, strict=True)]

    peak = int(np.argmax(scores))
    z_pair = NormalDist().inv_cdf(1 - alpha)
    tied = next(j for j in range(peak + 1) if not _significantly_below(m, j, peak, z_pair))

    unmet = [why for why, broken in [
        ("some problems were not evaluated at every step", any(len(r) != len(m.rates) for r in results.values())),
        ("problems were sampled a different number of times at different steps",
         bool((m.samples != m.samples[:, :1]).any())),
        (f"{len(steps)} evaluations, more than the {looks} planned", looks is not None and len(steps) > looks),
    ] if broken]  # fmt: skip
    if unmet:
        why = "; ".join(unmet)
        warnings.warn(f"openrs.selection.degradation: {why}: the onset's false-alarm level is not guaranteed (it "
                      "assumes the same problems and samples at every planned evaluation)", stacklevel=2)  # fmt: skip

    onset = confirmed = None
    planned = max(looks or 0, len(steps))
    for n in range(persistence + 1, len(steps) + 1):
        error = _sampling_error(m, n)
        if error == 0:
            continue
        drop, at, _ = _largest_drop(scores[None, :n] / error, persistence)
        if drop[0] > drop_thresholds(planned, persistence, alpha, _rounded_up((variation / error) ** 2))[n]:
            onset, confirmed = steps[at[0]], steps[n - 1]
            break
    error, sd, drop = _sampling_error(m, len(steps)), None, None
    if len(steps) >= 3 and error > 0:
        ratio = _variation_ratio(scores[None] / error)[0, steps.index(onset) if onset is not None else 0]
        sd = float(error * np.sqrt(ratio))
    if len(steps) > persistence and error > 0:
        drop = _drop(m, scores / error, error, planned, persistence, alpha, variation)
    return Degradation(per_step, steps[peak], steps[tied], onset, confirmed, sd, drop)


def _drop(m: RateMatrix, x: np.ndarray, error: float, planned: int, persistence: int, alpha: float,
          variation: float) -> Drop | None:  # fmt: skip
    """The Drop over all evaluations x (scores in units of the sampling error `error`); None without one."""
    z, at, unit = (v[0] for v in _largest_drop(x[None], persistence, margin=False))
    if not np.isfinite(z) or z <= 0:
        return None
    ratio = float(_variation_ratio(x[None])[0, at])  # the checkpoint variation the drop's error counts

    def smallest(seeds: int) -> float:
        """The smallest drop of this shape confirmed on the average of `seeds` such runs: one without noise over the
        threshold, every evaluation from its onset on _MARGIN standard errors below the reference."""
        e = error / math.sqrt(seeds)
        threshold = drop_thresholds(planned, persistence, alpha, _rounded_up((variation / e) ** 2))[len(x)]
        return max(threshold * unit, _MARGIN * math.sqrt(1 + ratio)) * e

    size = float(z * unit * error)
    seeds = next((k for k in range(1, _MOST_SEEDS + 1) if smallest(k) <= size), None)
    return Drop(m.steps[int(at)], size, float(smallest(1)), seeds, int(m.samples[0, 0]), len(m.rates))


def _sampling_error(m: RateMatrix, n: int) -> float:
    """One evaluation's sampling error from the first n evaluations, as an early stop would have it then:
    each problem's spread of pass rates across them, pooled (stratified by benchmark)."""
    if n < 2:
        return 0.0
    spread = m.rates[:, :n].var(axis=1, ddof=1)
    return float(np.sqrt(sum(spread[g].mean() / len(g) for g in m.groups)) / len(m.groups))


def load_run(eval_dir: Path) -> dict[int, dict[tuple[str, str], tuple[int, int]]]:
    """Results of a run from OUTPUT_DIR/eval/step-N/per_problem.jsonl files, keyed (benchmark, id); ValueError
    naming the file and line of a row that is not one (not JSON, a key missing, counts that are not 0 <= correct <=
    samples)."""
    results: dict[int, dict[tuple[str, str], tuple[int, int]]] = {}
    for step, path in evaluated_steps(eval_dir, "per_problem.jsonl"):
        results[step] = {}
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            try:
                r = json.loads(line)
                correct, samples = r["correct"], r["samples"]
                if not (isinstance(correct, int) and isinstance(samples, int) and 0 <= correct <= samples > 0):
                    raise ValueError(f"correct {correct!r} of {samples!r} samples")
                results[step][(str(r["benchmark"]), str(r["id"]))] = (correct, samples)
            except (ValueError, KeyError, TypeError) as err:
                what = f"no {err}" if isinstance(err, KeyError) else str(err)[:100]
                raise ValueError(f"{path}:{n}: not a per-problem result ({what}); rerun that evaluation") from None
    return results


def checkpoint_variation(rng: np.random.Generator, shape: tuple[int, ...], sd: float, rho: float = 0.0) -> np.ndarray:
    """Variation of the true score from checkpoint to checkpoint, shape (..., evaluations): stationary AR(1)
    along the last axis with standard deviation sd and lag-one correlation rho (0: independent)."""
    u = rng.standard_normal(shape)
    for j in range(1, shape[-1]):
        u[..., j] = rho * u[..., j - 1] + np.sqrt(1 - rho**2) * u[..., j]
    return sd * u
