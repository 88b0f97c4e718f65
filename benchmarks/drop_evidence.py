"""What a drop the degradation detector cannot confirm would take: the smallest confirmable drop and the seeds said to
confirm one (openrs.selection.degradation.Drop), against how often the detector then confirms it.

    python benchmarks/drop_evidence.py --trials 200

Simulator: simulated_runs.simulate_benchmarks, the paper's exp3 evidence: AIME24, AMC23 and MATH-500 (30, 40 and 500
problems, difficulty Beta(3, 1.5)), one sample per problem, 8 evaluations, no checkpoint variation; the score steps
down by `drop` from the fourth evaluation on (as the paper's curve did after step 150). For each drop: the share of
single runs confirmed, the median drop they measure, the median smallest confirmable drop and the median seeds said
to confirm it, and the share of runs confirmed when that many seeds are averaged (without checkpoint variation, the
same as that many samples per problem).
"""

import argparse

import numpy as np
from simulated_runs import simulate_benchmarks

from openrs.selection.degradation import analyse

PAPER_SPEC = {"aime24": 30, "amc23": 40, "math500": 500}


def runs(rng: np.random.Generator, drop: float, samples: int, trials: int) -> list:
    curve = [0.0] * 3 + [-drop] * 5
    spec = {name: (n, samples, curve) for name, n in PAPER_SPEC.items()}
    return [analyse(simulate_benchmarks(rng, spec)[0]) for _ in range(trials)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| true drop, points | one run confirms | measured drop, points (median) | smallest confirmable, points "
          "(median) | seeds said to confirm it (median) | that many seeds averaged confirm |")
    print("|---|---|---|---|---|---|")
    for drop in (0.03, 0.06, 0.09, 0.12):
        one = runs(rng, drop, 1, args.trials)
        seen = [d.drop for d in one if d.drop is not None]
        seeds = int(np.median([e.seeds_to_confirm or 10_000 for e in seen]))
        averaged = (f"{np.mean([d.onset_step is not None for d in runs(rng, drop, seeds, args.trials)]):.0%}"
                    if seeds <= 64 else "-")  # fmt: skip
        size, smallest = (100 * np.median([getattr(e, k) for e in seen]) for k in ("size", "smallest_confirmable"))
        print(f"| {100 * drop:.0f} | {np.mean([d.onset_step is not None for d in one]):.0%} | {size:.1f} | "
              f"{smallest:.1f} | {seeds if seeds <= 64 else 'more than 64'} | {averaged} |")


if __name__ == "__main__":
    main()
