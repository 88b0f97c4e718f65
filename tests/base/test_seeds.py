"""Scores over the seeds of a study: t intervals over seeds, the prediction interval of one more run, paired gains,
and their coverage over simulated studies (benchmarks/simulated_runs.simulate_study)."""

import math

import numpy as np
import pytest
from simulated_runs import simulate_study, true_study_gain, true_study_score

from openrs.base.seeds import gain_sentence, over_seeds, paired_gain


def test_three_seeds_get_students_t_not_the_normal():
    s = over_seeds([0.60, 0.70, 0.80])
    assert s.mean == pytest.approx(0.70) and s.sd == pytest.approx(0.10)
    assert s.high - s.mean == pytest.approx(4.3027 * 0.10 / math.sqrt(3), rel=1e-4)  # t(2) = 4.30, not 1.96
    assert s.predict_high - s.mean == pytest.approx(4.3027 * 0.10 * math.sqrt(4 / 3), rel=1e-4)
    assert s.holds_one_run(0.95) and not s.holds_one_run(1.2)


def test_one_seed_has_no_interval_and_no_gain_to_tell():
    s = over_seeds([0.7])
    assert s.seeds == 1 and math.isnan(s.low) and not s.distinguishable_from_zero
    assert gain_sentence(paired_gain([0.8], [0.6]), "amc23") == (
        "gain over base +20.0 points on amc23 from 1 seed: no interval; run more seeds"
    )


def test_a_gain_is_paired_with_each_seeds_own_base():
    # Bases that differ a lot between seeds, gains that agree: paired, the gain is clear.
    gain = paired_gain([0.50, 0.70, 0.90], [0.40, 0.61, 0.79])
    assert gain.mean == pytest.approx(0.10) and gain.low > 0.05
    assert gain_sentence(gain, "amc23").startswith("gain over base +10.0 points (95% [+")
    assert "over 3 seeds" in gain_sentence(gain, "amc23") and "not distinguishable" not in gain_sentence(gain, "x")
    spread = paired_gain([0.50, 0.70, 0.62], [0.60, 0.50, 0.60])
    assert gain_sentence(spread, "amc23").endswith("over 3 seeds: not distinguishable from no gain")


@pytest.mark.parametrize("bad", [[], [0.5, float("nan")], [0.5, float("inf")]])
def test_no_score_or_a_non_finite_one_is_refused(bad):
    with pytest.raises(ValueError, match="one finite score per seed"):
        over_seeds(bad)


@pytest.mark.parametrize("seeds", [3, 5])
def test_the_intervals_cover_the_truth_in_95_percent_of_simulated_studies(seeds):
    """1,000 simulated studies of a 40-problem benchmark, 4 samples per problem, each seed's training adding an
    ability ~ Normal(0.5, 0.3) logits: the 95% intervals of the mean score and of the paired gain hold the true
    values, and the prediction interval holds one more run's score, in 93-97% of the studies."""
    rng = np.random.default_rng(1)
    logits = rng.normal(0.7, 1.5, 40)
    score, gain = true_study_score(logits, 0.5, 0.3), true_study_gain(logits, 0.5, 0.3)
    covered = np.zeros(3)
    for _ in range(1000):
        before, after = simulate_study(rng, logits, seeds, 4, 0.5, 0.3)
        s, g = over_seeds(after), paired_gain(after, before)
        one_more = simulate_study(rng, logits, 1, 4, 0.5, 0.3)[1][0]
        covered += [s.low <= score <= s.high, g.low <= gain <= g.high, s.holds_one_run(one_more)]
    assert ((0.93 <= covered / 1000) & (covered / 1000 <= 0.97)).all(), covered / 1000
