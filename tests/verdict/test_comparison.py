import math

import pytest

from openrs.verdict.comparison import Score, compare, one_sample_results, one_sample_score, overall


def test_one_interval_by_hand():
    # MATH-500: the run 0.81 with its interval 0.78-0.84; the paper 0.844 on 500 problems, one sample each.
    run = {"math500": Score(0.81, 0.78, 0.84)}
    (row,) = compare(run, {"math500": 0.844}, {"math500": 500})
    se_run = 0.03 / 1.959964  # 0.01531
    se_paper = math.sqrt(0.844 * 0.156 / 500)  # 0.01623
    half = 1.959964 * math.sqrt(se_run**2 + se_paper**2)  # 0.0437
    assert (row.paper.low, row.paper.high) == pytest.approx((0.844 - 1.959964 * se_paper, 0.844 + 1.959964 * se_paper))
    assert (row.difference, row.low, row.high) == pytest.approx((-0.034, -0.034 - half, -0.034 + half))
    assert row.verdict == "consistent"
    assert row.sentence() == "consistent with the paper (-3.4 points, 95% interval -7.8 to +1.0)"


def test_verdicts_and_the_average():
    paper = {"aime24": 0.3, "math500": 0.854, "amc23": 0.8}
    problems = {"aime24": 30, "math500": 500, "amc23": 40}
    run = {b: one_sample_score(v, problems[b]) for b, v in paper.items()}
    run["math500"] = one_sample_score(0.774, 500)
    run["gsm8k"] = one_sample_score(0.9, 100)  # not in the paper: not compared
    rows = compare(run, paper, problems)
    assert [(r.benchmark, r.verdict) for r in rows] == [
        ("aime24", "consistent"), ("math500", "below"), ("amc23", "consistent"), ("average", "consistent")]
    assert rows[1].sentence().startswith("below the paper by 8.0 points")
    assert overall(rows).startswith("consistent with the paper on 2 of 3 benchmarks; math500 below by 8.0 points")
    assert rows[-1].run.value == pytest.approx((0.3 + 0.774 + 0.8) / 3)
    rows = compare({"amc23": one_sample_score(0.975, 40)}, paper, problems)
    assert [(r.benchmark, r.verdict) for r in rows] == [("amc23", "above")]


def test_a_curve_as_one_sample_per_problem_keeps_its_scores():
    results = one_sample_results({50: {"amc23": 0.8, "aime24": 0.3}, 100: {"amc23": 0.7, "aime24": 0.3}},
                                 {"amc23": 40, "aime24": 30})  # fmt: skip
    for step, expected in ((50, {"amc23": 32, "aime24": 9}), (100, {"amc23": 28, "aime24": 9})):
        right = {b: sum(c for (bench, _), (c, k) in results[step].items() if bench == b) for b in expected}
        assert right == expected and all(k == 1 for _, k in results[step].values())
