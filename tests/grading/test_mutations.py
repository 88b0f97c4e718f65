"""No wrong answer graded correct on a fixed subset of the mutation suite (benchmarks/grading_mutations.py
runs all of it); the false-negative count is recorded and may not grow."""

import random

import pytest
from mutation_cases import benchmark_golds, cases_for, deepscaler_golds, failures, grade_cases

from openrs.grading.pool import GradingPool

# Rows behind each class of false positive found so far, by benchmark (row = line in openrs/data/benchmarks).
KNOWN = {
    "math500": [30, 127, 166, 176, 257],  # 52_8 (a base), 4210_{5}, units with a second value, .0000672
    "minerva_math": [1, 64, 132, 261],  # 4.5e33, an ODE (dx/dt read as 0), one that times out, \hbar...
    "olympiadbench": [73, 76, 122, 139, 150, 188, 194],  # prose, `$.` inside, N=n, 62.5%, 8 \%, 17.5%, $221,$8
}
PER_BENCHMARK = 8  # seeded random rows of each benchmark, besides KNOWN
DEEPSCALER = 40  # DeepScaleR rows, the start of the benchmark's seeded sample
# False negatives of this subset when it was recorded (see benchmarks/README.md for the full suite).
FN_RECORDED = 0


@pytest.mark.slow
def test_no_false_positive_and_no_more_false_negatives():
    rng = random.Random(0)
    cases = []
    for name, golds in benchmark_golds().items():
        rows = sorted(set(KNOWN.get(name, [])) | set(rng.sample(range(len(golds)), PER_BENCHMARK)))
        cases += cases_for(name, [golds[i] for i in rows])
    cases += cases_for("deepscaler", deepscaler_golds(DEEPSCALER))  # the start of the benchmark's sample
    pool = GradingPool(workers=2, timeout_s=3.0, memory_mb=4096, max_answer_chars=2000)
    try:
        fp, fn = failures(cases, grade_cases(pool, cases))
    finally:
        pool.close()
    assert not fp, [(c.source, c.gold, c.name, c.completion, o) for c, o in fp]
    rewrites = sum(c.expect == 1.0 for c in cases)
    print(f"false negatives: {len(fn)} of {rewrites} rewrites ({len(fn) / rewrites:.1%})")
    assert len(fn) <= FN_RECORDED, [(c.source, c.gold, c.name, c.completion, o) for c, o in fn]
