"""False positives and false negatives of grading, by mutation and benchmark.

    python benchmarks/grading_mutations.py --deepscaler 5000

Every gold answer of the five shipped benchmarks, and a fixed seeded sample of the shipped DeepScaleR copy,
is mutated into wrong answers (mutation_cases.MUTATIONS: +1 appended, last digit changed, sign
flipped, a term after %/$/\\text{}/unit, a second value, a list element changed) and rewritten into right
ones (REWRITES: the gold itself, \\dfrac/\\frac, spacing, 0.5/\\frac{1}{2}, a trailing period, $...$). Each
is graded like the accuracy reward (answer rules + the grading pool, conf/ settings). A wrong answer graded
correct is a false positive (FP), a right one not graded correct a false negative (FN).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time

from mutation_cases import (
    MUTATIONS,
    REWRITES,
    benchmark_golds,
    cases_for,
    deepscaler_golds,
    failures,
    grade_cases,
    unparseable,
)

from openrs.grading.pool import GradingPool
from openrs.resolve.load import default_grading


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deepscaler", type=int, default=5000, help="DeepScaleR rows sampled (seed 0)")
    parser.add_argument("--workers", type=int, help="grading processes (default: conf/, CPU cores)")
    parser.add_argument("--list", type=int, default=40, help="failures listed per kind")
    args = parser.parse_args()

    sources = benchmark_golds()
    if args.deepscaler:
        sources[f"deepscaler_{args.deepscaler}"] = deepscaler_golds(args.deepscaler)
    cases = [c for name, golds in sources.items() for c in cases_for(name, golds)]
    g = default_grading()
    pool = GradingPool(args.workers or g.workers, g.timeout_s, g.memory_mb, g.max_answer_chars)
    start = time.perf_counter()
    try:
        outcomes = grade_cases(pool, cases)
    finally:
        pool.close()
    seconds = time.perf_counter() - start
    fp, fn = failures(cases, outcomes)
    print(
        f"{len(cases)} cases from {sum(map(len, sources.values()))} gold answers, graded in {seconds:.0f} s "
        f"({pool.n_workers} workers, timeout {g.timeout_s} s); outcomes {dict(collections.Counter(outcomes))}",
        file=sys.stderr,
    )

    names = list(sources)
    total = collections.Counter((c.source, c.name) for c in cases)
    bad = collections.Counter((c.source, c.name) for c, _ in fp + fn)
    print("| kind | case | " + " | ".join(names) + " | all |")
    print("|---|---|" + "---|" * (len(names) + 1))
    for kind, table in (("FP", MUTATIONS), ("FN", REWRITES)):
        for case in table:
            cells = [f"{bad[s, case]}/{total[s, case]}" for s in names]
            all_bad, all_total = sum(bad[s, case] for s in names), sum(total[s, case] for s in names)
            print(f"| {kind} | {case} | " + " | ".join(cells) + f" | {all_bad}/{all_total} |")
    skipped = unparseable(cases, outcomes)
    print(f"\ngold answers graded unparseable (their cases score None, counted in neither): {skipped}")
    n_mut = sum(c.expect == 0.0 for c in cases)
    print(f"false positives: {len(fp)} of {n_mut} mutations; false negatives: {len(fn)} of {len(cases) - n_mut}")
    for kind, found in (("false positive", fp), ("false negative", fn)):
        for c, outcome in found[: args.list]:
            print(f"- {kind} {c.source} row {c.row} {c.name} ({outcome}): gold {c.gold!r}, {c.completion[27:-1]!r}")
    return 1 if fp else 0


if __name__ == "__main__":
    sys.exit(main())
