"""Simulated runs with a known true curve: per-problem results of step-wise evaluations, for planning eval budgets
and testing the degradation detector (benchmarks/degradation.py, benchmarks/early_stop.py and the tests of
openrs.selection import it; the library itself never simulates a run)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from openrs.selection.degradation import checkpoint_variation


def _logistic_rates(logits: np.ndarray, mean: float) -> np.ndarray:
    """Pass rates sigmoid(logits + ability), the one ability that makes their mean `mean` (Newton's method)."""
    ability = 0.0
    for _ in range(12):
        rates = 1 / (1 + np.exp(-(logits + ability)))
        ability += np.clip((mean - rates.mean()) / max((rates * (1 - rates)).mean(), 1e-9), -2, 2)
    return 1 / (1 + np.exp(-(logits + ability)))


def simulate_run(
    rng: np.random.Generator,
    problems: int,
    k: int | list[int],
    shifts: list[float] | np.ndarray,
    every: int = 50,
    difficulty: tuple[float, float] | None = None,
    model: str = "beta",
    uneven: bool = False,
) -> dict[int, dict[str, tuple[int, int]]]:
    """A run's results with a known true curve, for planning eval budgets and testing the detector.

    At evaluation j the mean pass rate moves by shifts[j] (a fraction; add checkpoint_variation for a
    true score that varies by itself). model "beta": difficulty ~ Beta(*difficulty) (default (3, 1.5):
    mean 67%, AMC23 where the paper started), every pass rate scaled by the same factor; "logistic": an
    item-response model, problem logits ~ Normal(*difficulty) (default (1, 1.5): mean 67%) plus one
    ability per evaluation. uneven: half the problems move by -shifts[j], the other half by 3 * shifts[j]
    (the mean still moves by shifts[j]). Correct counts are Binomial(k, rate), k the samples per problem
    (or a list, one per evaluation). Steps are 0, every, 2 * every, ..."""
    if model == "beta":
        p = rng.beta(*(difficulty or (3, 1.5)), problems)
    elif model == "logistic":
        logits = rng.normal(*(difficulty or (1, 1.5)), problems)
        p = 1 / (1 + np.exp(-logits))
    else:
        raise ValueError(f"model {model!r}: use 'beta' or 'logistic'")
    halves = [(np.arange(problems) % 2 == h, factor) for h, factor in ((0, -1), (1, 3))]
    parts = halves if uneven else [(np.ones(problems, dtype=bool), 1)]
    samples = k if isinstance(k, list) else [k] * len(shifts)
    results = {}
    for j, (shift, n) in enumerate(zip(shifts, samples, strict=True)):
        rate = np.empty(problems)
        for part, factor in parts:
            base = p[part].mean()
            if model == "beta":
                rate[part] = np.clip(p[part] * (1 + factor * shift / base), 0, 1)
            else:
                rate[part] = _logistic_rates(logits[part], np.clip(base + factor * shift, 1e-6, 1 - 1e-6))
        correct = rng.binomial(n, rate)
        results[j * every] = {str(i): (int(c), n) for i, c in enumerate(correct)}
    return results


def simulate_benchmarks(
    rng: np.random.Generator,
    spec: Mapping[str, tuple[int, int | list[int], list[float]]],
    variation: float = 0.0,
    rho: float = 0.0,
    **kwargs,
) -> tuple[dict[int, dict[tuple[str, str], tuple[int, int]]], np.ndarray]:
    """A run evaluated on several benchmarks: spec maps a benchmark's name to (problems, k, shifts) as in
    simulate_run (kwargs go there too); every benchmark also moves by one shared checkpoint variation
    (checkpoint_variation with sd `variation`, a fraction, and rho). Returns the results keyed
    (benchmark, id) and the true score's shift per evaluation (the mean over benchmarks, as analyse
    weighs them, variation included), (evaluations,)."""
    evaluations = len(next(iter(spec.values()))[2])
    moves = checkpoint_variation(rng, (evaluations,), variation, rho)
    results: dict[int, dict[tuple[str, str], tuple[int, int]]] = {}
    for name, (problems, k, shifts) in spec.items():
        for step, rows in simulate_run(rng, problems, k, np.asarray(shifts) + moves, **kwargs).items():
            results.setdefault(step, {}).update({(name, key): v for key, v in rows.items()})
    return results, np.mean([shifts for _, _, shifts in spec.values()], axis=0) + moves


def simulate_study(
    rng: np.random.Generator, logits: np.ndarray, seeds: int, samples: int, gain: float, seed_sd: float
) -> tuple[np.ndarray, np.ndarray]:
    """A study's scores on one benchmark: the base model's step-0 evaluation and the trained model's, per seed,
    (seeds,) fractions each. Problems are fixed (their base logits `logits`, as one benchmark's); each seed's
    training adds an ability a ~ Normal(gain, seed_sd) in logits to every problem, and each evaluation draws
    Binomial(samples, sigmoid(logit (+ a))) correct per problem. The truth a study's intervals should cover is
    true_study_gain (and true_study_score)."""
    abilities = rng.normal(gain, seed_sd, seeds)
    base = 1 / (1 + np.exp(-logits))
    before = rng.binomial(samples, base, (seeds, logits.size)).mean(axis=1) / samples
    trained = 1 / (1 + np.exp(-(logits[None, :] + abilities[:, None])))
    after = rng.binomial(samples, trained).mean(axis=1) / samples
    return before, after


def true_study_score(logits: np.ndarray, gain: float, seed_sd: float, draws: int = 20_000) -> float:
    """The expected trained score over seeds of simulate_study (Monte Carlo over the ability, fixed rng)."""
    abilities = np.random.default_rng(0).normal(gain, seed_sd, draws)
    return float(np.mean([(1 / (1 + np.exp(-(logits + a)))).mean() for a in abilities]))


def true_study_gain(logits: np.ndarray, gain: float, seed_sd: float) -> float:
    """The expected gain over the base model of simulate_study."""
    return true_study_score(logits, gain, seed_sd) - float((1 / (1 + np.exp(-logits))).mean())
