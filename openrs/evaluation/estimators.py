"""Estimators for benchmark scores from k samples per problem, and how far to trust them.

A benchmark result is, per problem i, n_i samples of which c_i were correct. The score is mean pass@1,
the mean over problems of c_i / n_i; its 95% interval comes from resampling problems (a percentile
bootstrap), which covers both the sampling noise of the k draws and which problems happened to be chosen.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from statistics import NormalDist


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased probability that at least one of k samples is correct, given c correct of n >= k samples
    (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if not 0 < k <= n or not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 < k <= n and 0 <= c <= n, got n={n}, c={c}, k={k}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def majority_correct(answers: Sequence[str | None], correct: Sequence[bool]) -> bool:
    """Whether the most frequent answer among a problem's samples is correct (maj@k). Answers are compared
    as normalised strings; None (no answer) never votes; a tie goes to the answer seen first."""
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return False
    top = max(votes.values())
    winner = next(a for a in answers if a is not None and votes[a] == top)
    return next(ok for a, ok in zip(answers, correct, strict=True) if a == winner)


def bootstrap_interval(
    groups: Sequence[Sequence[float]], level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over groups of each group's mean.

    groups: per benchmark, one value per problem (its pass rate c_i / n_i). Problems are resampled with
    replacement within each benchmark; one group gives the interval of that benchmark's score, several
    give the interval of their average (the paper's Avg column)."""
    rng = random.Random(seed)
    stats = []
    for _ in range(resamples):
        means = [sum(rng.choices(g, k=len(g))) / len(g) for g in groups]
        stats.append(sum(means) / len(means))
    stats.sort()
    tail = (1 - level) / 2
    return stats[int(tail * resamples)], stats[min(resamples - 1, int((1 - tail) * resamples))]


def samples_needed(n_problems: int, half_width: float, level: float = 0.95, p: float = 0.5) -> int:
    """Samples per problem so that the sampling noise of mean pass@1 on a fixed set of n_problems has a
    `level` interval of +-half_width (a fraction, 0.02 = 2 points). The variance is mean_i p_i(1-p_i) /
    (n_problems k) <= p(1-p) / (n_problems k); p = 0.5 is the worst case."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    return max(1, math.ceil(z * z * p * (1 - p) / (n_problems * half_width * half_width)))


def half_width(n_problems: int, k: int, level: float = 0.95, p: float = 0.5) -> float:
    """The +- of the interval `samples_needed` solves for, at k samples per problem (a fraction)."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    return z * math.sqrt(p * (1 - p) / (n_problems * k))
