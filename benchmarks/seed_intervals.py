"""How often a study's intervals (openrs.base.seeds) hold the truth, over simulated studies.

    python benchmarks/seed_intervals.py --studies 1000

Simulator: simulated_runs.simulate_study. One benchmark of AMC23's size (40 problems, base logits ~ Normal(0.7,
1.5): 62% at step 0) evaluated with 4 samples per problem at step 0 and after training; each seed's training adds
an ability ~ Normal(0.5, seed_sd) logits to every problem (+8 points on average). For each number of seeds and
seed spread, the share of studies whose 95% interval of the mean score holds the true expected score, whose 95%
interval of the paired gain holds the true gain, and whose 95% prediction interval holds one more seed's score;
and the median width of the gain's interval, in points.
"""

import argparse

import numpy as np
from simulated_runs import simulate_study, true_study_gain, true_study_score

from openrs.base.seeds import over_seeds, paired_gain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--studies", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    logits = rng.normal(0.7, 1.5, 40)
    print("| seeds | seed sd (logits) | mean covered | gain covered | one more run covered | "
          "gain interval width, points |")
    print("|---|---|---|---|---|---|")
    for seeds in (2, 3, 5, 10):
        for seed_sd in (0.1, 0.3, 0.6):
            score, gain = true_study_score(logits, 0.5, seed_sd), true_study_gain(logits, 0.5, seed_sd)
            covered, widths = np.zeros(3), []
            for _ in range(args.studies):
                before, after = simulate_study(rng, logits, seeds, 4, 0.5, seed_sd)
                s, g = over_seeds(after), paired_gain(after, before)
                one_more = simulate_study(rng, logits, 1, 4, 0.5, seed_sd)[1][0]
                covered += [s.low <= score <= s.high, g.low <= gain <= g.high, s.holds_one_run(one_more)]
                widths.append(100 * (g.high - g.low))
            share = covered / args.studies
            print(f"| {seeds} | {seed_sd} | {share[0]:.1%} | {share[1]:.1%} | {share[2]:.1%} | "
                  f"{np.median(widths):.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
