"""How often the degradation detector raises a false alarm, and how soon it finds a real drop.

    python benchmarks/degradation.py --trials 2000

Simulated runs of 10 evaluations, 50 steps apart (openrs.degradation.simulate_run): flat, rising
(+8 points), and the paper's Figure 2 shape (+5 points by step 100, then 10 points down from that peak at
step 250). For each benchmark size and k: the share of runs with any onset (false alarm on flat/rising),
and for the drop the share confirmed by step 350 (within two evaluations of the onset), with the median
confirmation step. Then flat runs outside the detector's assumptions: a hard benchmark (difficulty
Beta(0.3, 5), mean 6%) and samples per problem changing mid-run.
"""

import argparse
import statistics
import warnings

import numpy as np

from openrs.degradation import analyse, simulate_run

OUTSIDE = {  # label: (problems, k, difficulty)
    "30 problems, Beta(0.3, 5), k = 1": (30, 1, (0.3, 5)),
    "30 problems, Beta(0.3, 5), k = 4": (30, 4, (0.3, 5)),
    "40 problems, k = 8 then 1 from step 250": (40, [8] * 5 + [1] * 5, (3, 1.5)),
    "40 problems, k = 1 then 8 from step 250": (40, [1] * 5 + [8] * 5, (3, 1.5)),
}
CURVES = {
    "flat": [0.0] * 10,
    "rising": [0, 0.02, 0.04, 0.05, 0.06, 0.06, 0.07, 0.07, 0.08, 0.08],
    "drop": [0, 0.03, 0.05, 0.05, 0.05, -0.05, -0.05, -0.05, -0.05, -0.05],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    print(f"alpha {args.alpha}, persistence 2, {args.trials} runs per cell\n")
    print(
        "| problems | k | false alarms, flat | false alarms, rising | drop found by step 350 | median step confirmed |"
    )
    print("|---|---|---|---|---|---|")
    for problems, k in [(30, 4), (40, 1), (40, 4), (40, 16), (500, 1), (500, 4)]:
        rng = np.random.default_rng(problems * 100 + k)
        runs = {name: [analyse(simulate_run(rng, problems, k, c), args.alpha) for _ in range(args.trials)]
                for name, c in CURVES.items()}  # fmt: skip
        alarms = {n: sum(d.onset_step is not None for d in runs[n]) / args.trials for n in ("flat", "rising")}
        confirmed = [d.confirmed_at for d in runs["drop"] if d.confirmed_at is not None]
        found = sum(250 <= c <= 350 for c in confirmed) / args.trials
        median = f"{statistics.median(confirmed):g}" if confirmed else "none"
        print(f"| {problems} | {k} | {alarms['flat']:.1%} | {alarms['rising']:.1%} | {found:.1%} | {median} |")
    print("\n| flat run | false alarms |\n|---|---|")
    warnings.simplefilter("ignore")  # analyse warns that k changes: that is the point here
    for label, (problems, k, difficulty) in OUTSIDE.items():
        rng = np.random.default_rng(len(label))
        runs = [analyse(simulate_run(rng, problems, k, CURVES["flat"], difficulty=difficulty), args.alpha)
                for _ in range(args.trials)]  # fmt: skip
        print(f"| {label} | {sum(d.onset_step is not None for d in runs) / args.trials:.1%} |")


if __name__ == "__main__":
    main()
