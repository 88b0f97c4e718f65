"""Peak, best checkpoint and degradation onset on hand-made and simulated curves with known onsets."""

from statistics import NormalDist

import numpy as np
import pytest

from openrs.degradation import analyse, drop_threshold, load_run, simulate_run
from openrs.evaluation import ProblemResult, write_report

FLAT = [0.0] * 10
RISING = [0, 0.02, 0.04, 0.05, 0.06, 0.06, 0.07, 0.07, 0.08, 0.08]
# Up 5 points by step 100, then 10 points down from that peak at step 250 (index 5), the paper's Figure 2 shape.
DROP = [0, 0.03, 0.05, 0.05, 0.05, -0.05, -0.05, -0.05, -0.05, -0.05]


def onsets(problems: int, k: int, curve: list[float], trials: int = 200) -> list:
    rng = np.random.default_rng(problems * 10 + k)
    return [analyse(simulate_run(rng, problems, k, curve)) for _ in range(trials)]


def test_hand_made_run():
    # 40 problems, k=1: 20 right at step 0, 30 at 50 and 100, then 12 from step 150 on.
    def step(right):
        return {str(i): (int(i < right), 1) for i in range(40)}

    d = analyse({0: step(20), 50: step(30), 100: step(30), 150: step(12), 200: step(12)})
    assert d.peak_step == 50 and d.earliest_tied_step == 50 and d.onset_step == 150 and d.confirmed_at == 200
    assert d.scores[1].score == 0.75 and d.scores[1].low < 0.75 < d.scores[1].high


def test_earliest_tied_step_when_the_peak_is_not_significantly_higher():
    base = {str(i): (int(i < 25), 1) for i in range(40)}
    one_more = {str(i): (int(i < 26), 1) for i in range(40)}
    d = analyse({0: base, 50: base, 100: one_more})
    assert d.peak_step == 100 and d.earliest_tied_step == 0 and d.onset_step is None


def test_only_problems_every_step_saw_are_compared():
    with pytest.warns(UserWarning, match="some problems were not evaluated at every step"):
        d = analyse({0: {"a": (1, 1), "b": (0, 1)}, 50: {"a": (1, 1)}})
    assert [s.score for s in d.scores] == [1.0, 1.0]
    with pytest.raises(ValueError, match="no problem was evaluated at every step"):
        analyse({0: {"a": (1, 1)}, 50: {"b": (1, 1)}})


@pytest.mark.parametrize(("problems", "k"), [(40, 1), (40, 4), (40, 16), (500, 1), (500, 4)])
@pytest.mark.parametrize("curve", [FLAT, RISING], ids=["flat", "rising"])
def test_false_alarms_stay_under_the_level(problems, k, curve):
    alarms = sum(d.onset_step is not None for d in onsets(problems, k, curve))
    assert alarms / 200 <= 0.05 + 0.035  # the level plus 2.3 standard errors of 200 trials


# At the paper's k=1 an AMC23-sized benchmark finds only about a quarter of such drops that soon.
@pytest.mark.parametrize(("problems", "k", "power"), [(40, 16, 0.95), (40, 4, 0.75), (500, 1, 0.95)])
def test_a_ten_point_drop_is_found_within_two_evaluations(problems, k, power):
    found = [d.confirmed_at is not None and 250 <= d.confirmed_at <= 350 for d in onsets(problems, k, DROP)]
    assert sum(found) / len(found) >= power


def test_an_early_stop_decides_as_the_whole_run_would():
    # Cut each run at every evaluation: the cut confirms degradation exactly when the whole run confirmed it
    # there, so an early stop mid-run and the analysis at its end agree.
    rng = np.random.default_rng(7)
    for _ in range(20):
        run = simulate_run(rng, 40, 4, DROP)
        whole = analyse(run)
        for last in sorted(run):
            cut = analyse({s: r for s, r in run.items() if s <= last}, looks=len(run))
            assert cut.confirmed_at == (whole.confirmed_at if whole.confirmed_at is not None
                                        and whole.confirmed_at <= last else None)  # fmt: skip


def test_a_run_outside_the_detectors_assumptions_is_warned_about():
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="sampled a different number of times"):
        analyse(simulate_run(rng, 40, [8] * 5 + [1] * 5, FLAT))
    with pytest.warns(UserWarning, match="10 evaluations, more than the 6 planned"):
        analyse(simulate_run(rng, 40, 4, FLAT), looks=6)


def test_with_one_comparison_the_threshold_is_the_one_sided_normal_quantile():
    # 2 evaluations, persistence 1: the only candidate is evaluation 1 against evaluation 0.
    assert drop_threshold(2, 1, 0.05) == pytest.approx(NormalDist().inv_cdf(0.95), abs=0.05)  # 10,000 runs: SE 0.02
    assert drop_threshold(3, 2, 0.05) < drop_threshold(10, 2, 0.05) < drop_threshold(20, 2, 0.05)


def test_load_run_reads_the_step_wise_files(tmp_path):
    for step, right in [(0, 1), (50, 2)]:
        results = [ProblemResult("amc23", i, "1", correct=int(i < right), samples=1) for i in range(3)]
        write_report(results, tmp_path / f"step-{step}", f"step {step}")
    a = ("amc23", "0"), ("amc23", "1"), ("amc23", "2")
    assert load_run(tmp_path) == {0: {a[0]: (1, 1), a[1]: (0, 1), a[2]: (0, 1)},
                                  50: {a[0]: (1, 1), a[1]: (1, 1), a[2]: (0, 1)}}  # fmt: skip


def test_each_benchmark_weighs_the_same_whatever_its_size():
    # 4 problems of "big" all right, 1 problem of "small" wrong: the score is (1 + 0) / 2, not 4 / 5.
    step = {**{("big", str(i)): (1, 1) for i in range(4)}, ("small", "0"): (0, 1)}
    assert analyse({0: step}).scores[0].score == 0.5
