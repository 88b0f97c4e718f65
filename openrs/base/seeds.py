"""Scores over the seeds of a study (runs identical but for `seed`), once seed variance counts (single-seed RL gains
on 1.5B models often shrink under seed variance, arXiv 2504.07086).

Each seed's score already carries both sources of noise, the evaluation's sampling (its problems' samples) and the
seed's own trajectory (data order, generation), so the spread of the seeds' scores counts both. The interval for
their mean is Student's t over the seeds: mean +- t(k - 1) sd / sqrt(k); with 3 seeds t is 4.30, wide, and that is
the honest answer. One more run of the recipe falls within mean +- t(k - 1) sd sqrt(1 + 1/k) (the prediction
interval): a single published number, such as the paper's, is judged against that. A gain over the base model is
paired: each seed against its own step-0 evaluation, and the t interval of those differences. Scores are fractions
in [0, 1]; sentences print points (x 100).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OverSeeds:
    """A score (or a gain) over the seeds of a study, fractions."""

    mean: float
    sd: float
    """Between-seed sample standard deviation (0 with one seed)."""
    seeds: int
    low: float
    high: float
    """95% interval of the mean (Student's t, seeds - 1 degrees of freedom); nan with one seed."""
    predict_low: float
    predict_high: float
    """95% prediction interval of one more seed's score; nan with one seed."""

    @property
    def distinguishable_from_zero(self) -> bool:
        """Whether the interval of the mean excludes 0 (False with one seed: nothing to tell a seed from a gain)."""
        return self.low > 0 or self.high < 0

    def holds_one_run(self, value: float) -> bool:
        """Whether a single run's score `value` is one a seed of this study could give (inside the prediction
        interval)."""
        return self.predict_low <= value <= self.predict_high


def over_seeds(values: Sequence[float], confidence: float = 0.95) -> OverSeeds:
    """Mean, between-seed spread and t intervals of one score per seed, (seeds,) fractions. ValueError on an empty
    or non-finite input."""
    x = np.asarray(values, dtype=float)
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"over_seeds needs one finite score per seed, got {list(values)!r}")
    from scipy.stats import t as student_t  # only where intervals are drawn: scipy takes a second to import

    k, mean = x.size, float(x.mean())
    if k == 1:
        return OverSeeds(mean, 0.0, 1, math.nan, math.nan, math.nan, math.nan)
    sd = float(x.std(ddof=1))
    t = float(student_t.ppf(0.5 + confidence / 2, k - 1))
    half, predict = t * sd / math.sqrt(k), t * sd * math.sqrt(1 + 1 / k)
    return OverSeeds(mean, sd, k, mean - half, mean + half, mean - predict, mean + predict)


def paired_gain(after: Sequence[float], before: Sequence[float], confidence: float = 0.95) -> OverSeeds:
    """The gain of each seed over its own earlier evaluation (after[i] - before[i], (seeds,) fractions each),
    summarised over the seeds as over_seeds does."""
    if len(after) != len(before):
        raise ValueError(f"paired_gain needs a before for every after: {len(after)} after, {len(before)} before")
    return over_seeds([a - b for a, b in zip(after, before, strict=True)], confidence)


def gain_sentence(gain: OverSeeds, benchmark: str) -> str:
    """'gain over base +X points (95% [a, b]) on BENCHMARK over K seeds', or why it cannot be told from none."""
    seeds = f"{gain.seeds} seed{'s' if gain.seeds != 1 else ''}"
    if gain.seeds == 1:
        return f"gain over base {100 * gain.mean:+.1f} points on {benchmark} from 1 seed: no interval; run more seeds"
    said = (f"gain over base {100 * gain.mean:+.1f} points (95% [{100 * gain.low:+.1f}, {100 * gain.high:+.1f}]) on "
            f"{benchmark} over {seeds}")  # fmt: skip
    return said if gain.distinguishable_from_zero else f"{said}: not distinguishable from no gain"
