"""Scores over the seeds of a study: t intervals over seeds, the prediction interval of one more run, paired gains,
and their coverage over simulated studies (benchmarks/simulated_runs.simulate_study)."""

import math

import numpy as np
import pytest
import yaml
from simulated_runs import simulate_study, true_study_gain, true_study_score

from openrs.verdict.study import gain_sentence, over_seeds, paired_gain


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


@pytest.fixture(scope="session")
def study(job, run_openrs):
    """study(sweep, {seed: {step: {benchmark: pass@1}}}, *overrides_of_the_last): a sweep folder of exp2 runs
    evaluated with eval=paper (one sample per problem, job.yaml as the job writes it), one per seed; then
    `python -m openrs.verdict SWEEP`'s exit code, output and error output."""
    from openrs.evaluation.harness import ProblemResult, write_report
    from openrs.verdict.paper import paper

    def run(sweep, curves: dict[int, dict[int, dict[str, float]]], *overrides: str):
        for i, (seed, curve) in enumerate(curves.items()):
            out = sweep / str(i)
            last = overrides if i == len(curves) - 1 else ()
            exp2 = job("+experiment=exp2", "hardware=a40x4", "eval=paper", "eval.every_steps=50", f"seed={seed}",
                       *last, output_dir=str(out))  # fmt: skip
            out.mkdir(parents=True)
            (out / "job.yaml").write_text(yaml.safe_dump(exp2.model_dump()))
            for step, scores in curve.items():
                rows = [ProblemResult(b, p, "1", correct=int(p < round(v * paper().problems[b])), samples=1,
                                      predictions=["1"], outcomes=["x"], lengths=[100])
                        for b, v in scores.items() for p in range(paper().problems[b])]  # fmt: skip
                write_report(rows, out / "eval" / f"step-{step}", f"step {step}", exp2.eval.protocol)
        proc = run_openrs("-m", "openrs.verdict", str(sweep))
        return proc.returncode, proc.stdout, proc.stderr.strip()

    return run


def test_a_study_gives_the_mean_the_paper_against_one_seeds_range_and_the_paired_gain(tmp_path, study):
    from openrs.verdict.paper import paper

    step, row = paper().chosen_step["exp2"], paper().rows_of["exp2"]
    amc, math = paper().rows[row]["amc23"], paper().rows[row]["math500"]
    # A between-seed sd of 1 point: one more seed lands within about +-5 points (t(2) = 4.3).
    curves = {seed: {0: {"amc23": 0.6, "math500": 0.8}, step: {"amc23": amc + d, "math500": math - 0.15 + d}}
              for seed, d in ((0, -0.01), (1, 0.0), (2, 0.01))}  # fmt: skip
    code, out, err = study(tmp_path / "sweep", curves)
    assert code == 0, err
    assert f"# Over 3 seeds: exp2 at step {step}" in out and "Student's t over the seeds" in out
    assert f"amc23: the paper's {row} {100 * amc:.1f} is inside the range one seed of this study gives" in out
    assert f"math500: the paper's {row} {100 * math:.1f} is outside the range one seed" in out
    gain = [line for line in out.splitlines() if line.startswith("- gain over base") and "amc23" in line]
    assert len(gain) == 1 and "not distinguishable" not in gain[0] and "over 3 seeds" in gain[0], out
    assert "The seeds peaked at steps" in out and "| 2 | " in out  # the per-seed table
    files = {p.name for p in (tmp_path / "sweep" / "verdict").iterdir()}
    assert files == {"verdict.md", "verdict.csv", "curves.png"}


def test_a_gain_within_the_seeds_spread_is_not_distinguishable_from_none(tmp_path, study):
    curves = {seed: {0: {"amc23": 0.6}, 50: {"amc23": v}} for seed, v in ((0, 0.5), (1, 0.725), (2, 0.65))}
    code, out, err = study(tmp_path / "sweep", curves)
    assert code == 0, err
    assert "on amc23 over 3 seeds: not distinguishable from no gain" in out


def test_runs_that_differ_in_more_than_the_seed_are_refused_naming_the_keys(tmp_path, study):
    curves = {seed: {0: {"amc23": 0.6}, 50: {"amc23": 0.7}} for seed in (0, 1, 2)}
    code, out, err = study(tmp_path / "sweep", curves, "trainer.learning_rate=1e-30")
    assert code == 2 and out == "" and err.count("\n") == 0, err
    assert "these runs differ in more than the seed (trainer.learning_rate)" in err
