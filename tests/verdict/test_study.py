"""The verdict over a seed study (openrs.verdict.study): the mean, the paper against one seed's range, the paired gain
over base, per-seed peaks, and the refusal of runs that differ in more than the seed."""

import pytest
import yaml


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
