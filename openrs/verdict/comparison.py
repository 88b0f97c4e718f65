"""A run's pass@1 against the paper's, benchmark by benchmark, with the sampling uncertainty of both.

The paper took one sample per problem, so its pass@1 p on n problems carries a binomial standard error
sqrt(p (1 - p) / n); the run's comes from its own 95% interval (openrs's bootstrap over problems). The
difference's standard error is the two combined (independent samples), its 95% interval d +- 1.96 se; the
verdict is "consistent" when that interval holds 0, else "above" or "below" by |d|. Scores are fractions in
[0, 1]; differences are printed in points (x 100).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

Z = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class Score:
    value: float
    """pass@1, a fraction."""
    low: float
    high: float
    """Its 95% interval."""

    @property
    def standard_error(self) -> float:
        return (self.high - self.low) / (2 * Z)


def one_sample_score(value: float, problems: int) -> Score:
    """pass@1 from one sample per problem, with its binomial (normal-approximation) 95% interval."""
    half = Z * math.sqrt(value * (1 - value) / problems)
    return Score(value, value - half, value + half)


@dataclass(frozen=True)
class Comparison:
    benchmark: str
    """A benchmark, or `average` (the mean over the benchmarks compared)."""
    run: Score
    paper: Score
    difference: float
    low: float
    high: float
    """95% interval of run - paper."""

    @property
    def verdict(self) -> str:
        return "above" if self.low > 0 else "below" if self.high < 0 else "consistent"

    def sentence(self) -> str:
        points = f"{points_of(self.difference)} points, 95% interval {points_of(self.low)} to {points_of(self.high)}"
        if self.verdict == "consistent":
            return f"consistent with the paper ({points})"
        return f"{self.verdict} the paper by {100 * abs(self.difference):.1f} points ({points})"


def points_of(difference: float) -> str:
    """A difference of fractions in signed points, one decimal, never "-0.0"."""
    return f"{round(100 * difference, 1) + 0.0:+.1f}"


def compare(run: Mapping[str, Score], paper: Mapping[str, float], problems: Mapping[str, int]) -> list[Comparison]:
    """One Comparison per benchmark both have (in the paper's order), then the average over them (when more
    than one): run -> its scores, paper -> the paper's pass@1 (fractions), problems -> the paper's problem counts."""
    rows = []
    for name in (b for b in paper if b in run and b != "average"):
        ours, theirs = run[name], one_sample_score(paper[name], problems[name])
        rows.append(_row(name, ours, theirs))
    if len(rows) > 1:
        ours, theirs = mean([r.run for r in rows]), mean([r.paper for r in rows])
        rows.append(_row("average", ours, theirs))
    return rows


def mean(scores: list[Score]) -> Score:
    """The mean of independent scores, with its 95% interval."""
    value = sum(s.value for s in scores) / len(scores)
    half = Z * math.sqrt(sum(s.standard_error**2 for s in scores)) / len(scores)
    return Score(value, value - half, value + half)


def _row(name: str, run: Score, paper: Score) -> Comparison:
    d, half = run.value - paper.value, Z * math.hypot(run.standard_error, paper.standard_error)
    return Comparison(name, run, paper, d, d - half, d + half)


def overall(rows: list[Comparison]) -> str:
    """One line: how many benchmarks agree, and the average's verdict."""
    benchmarks = [r for r in rows if r.benchmark != "average"]
    off = [f"{r.benchmark} {r.verdict} by {100 * abs(r.difference):.1f} points"
           for r in benchmarks if r.verdict != "consistent"]  # fmt: skip
    line = f"consistent with the paper on {len(benchmarks) - len(off)} of {len(benchmarks)} benchmarks"
    if off:
        line += f"; {', '.join(off)}"
    average = next((r for r in rows if r.benchmark == "average"), None)
    if average is not None:
        run, theirs = 100 * average.run.value, 100 * average.paper.value
        line += f"; average {run:.1f}% vs the paper's {theirs:.1f}%: {average.sentence()}"
    return line


def one_sample_results(curve: Mapping[int, Mapping[str, float]], problems: Mapping[str, int], seed: int = 0):
    """A curve of scores as openrs.selection.degradation's per-problem results, one sample per problem: at each
    step and benchmark, round(pass@1 x problems) of them right. Which ones is not known (the paper logged
    scores only), so they are drawn independently at each step, with a fixed seed: the unpaired case, in which
    two steps share no problem-level agreement (the detector's most conservative reading)."""
    rng = np.random.default_rng(seed)
    results = {}
    for step in sorted(curve):
        results[step] = {}
        for name, value in curve[step].items():
            n = problems[name]
            right = set(rng.permutation(n)[: round(value * n)].tolist())
            results[step] |= {(name, str(i)): (int(i in right), 1) for i in range(n)}
    return results
