"""Rows per second of the `decontaminate` step on the 40k DeepScaleR copy against all five benchmarks.

    python benchmarks/decontaminate.py --rounds 3

The shipped DeepScaleR-Preview copy (40,315 rows; openrs/data/training) is matched against AIME24, AMC23,
MATH-500, Minerva-Math and OlympiadBench (1,517 problems) as conf/curate/deepscaler_local.yaml does: exact
match up to case, spacing, punctuation and LaTeX layout (openrs.curate.pipeline.normalized), then word 8-grams
with a 0.5 overlap threshold. Building the benchmark index is timed apart from matching the rows.
"""

import argparse
import statistics
import time

from openrs.config.curate import CurateSourceConfig, DecontaminateStepConfig
from openrs.curate.pipeline import BenchmarkIndex, decontaminate, read_source

FIVE = ["aime24", "amc23", "math500", "minerva_math", "olympiadbench"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    source = CurateSourceConfig(name="deepscaler", path="deepscaler_preview", split="train", problem_column="problem",
                          answer_column="answer", solution_column=None)  # fmt: skip
    rows = read_source(source)
    step = DecontaminateStepConfig(step="decontaminate", benchmarks=FIVE, ngram=8, threshold=0.5)
    index_s, total_s = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        BenchmarkIndex(FIVE, step.ngram)
        index_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        kept, removed, _ = decontaminate(rows, step)
        total_s.append(time.perf_counter() - start)
    total, index = statistics.median(total_s), statistics.median(index_s)
    print(f"{len(rows)} rows against {len(FIVE)} benchmarks, {args.rounds} rounds (median); removed {len(removed)}\n")
    print("| part | s | rows/s |\n|---|---|---|")
    print(f"| build the benchmark index | {index:.2f} | |")
    print(f"| match the rows | {total - index:.2f} | {len(rows) / (total - index):,.0f} |")
    print(f"| whole step | {total:.2f} | {len(rows) / total:,.0f} |")


if __name__ == "__main__":
    main()
