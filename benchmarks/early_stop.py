"""What the early stop saves on runs shaped like the paper's Experiment 1, and what it costs in score.

    python benchmarks/early_stop.py --trials 500

Simulated exp1 runs to 500 steps, evaluated every 50 steps with the step-wise preset (AMC23: 40 problems x 8
samples, MATH-500: 500 x 1, weighed equally as the selection weighs them; difficulty Beta(3, 1.5);
simulated_runs.simulate_benchmarks). True curves from the paper's Section 3.4 / Figure 2: AMC23 +7 points
by step 100, back to the start by 200 and 6 points below it from 300 on; MATH-500 +1 point by 100, 3 points
below the start from 300 on. The early stop (openrs.selection.early_stop) ends a run at the evaluation that confirms
degradation; its checkpoint is the highest-scoring step among the evaluations it saw (openrs.selection), compared
with the more conservative earliest step not significantly below it. Cost at the paper's pace: 500 steps took
4 A40s 24 h, so one step is 96 / 500 = 0.192 GPU-hours, at $0.4375 per GPU-hour (conf/hardware/a40x4.yaml). A
control run that rises and stays up, and one that stays flat, measure stops that should not happen. Each curve
also with checkpoint variation shared by both benchmarks (1 or 2 points sd, independent or AR(1) rho 0.5): the
true score of each checkpoint is the curve plus its variation, and regret is measured against that.
--checkpoint-variation sets the largest variation the detector assumes (selection.checkpoint_variation,
default 0.02); --every evaluates every that many steps instead (eval.every_steps), the curves interpolated
linearly between their 50-step points.
"""

import argparse
import itertools
import statistics

import numpy as np
from simulated_runs import simulate_benchmarks

from openrs.selection.degradation import analyse

CURVE_STEPS = list(range(0, 501, 50))
EXP1 = {
    "amc23": (40, 8, [0, 0.05, 0.07, 0.04, 0.0, -0.04, -0.06, -0.06, -0.06, -0.06, -0.06]),
    "math500": (500, 1, [0, 0.005, 0.01, 0.005, 0, -0.02, -0.03, -0.03, -0.03, -0.03, -0.03]),
}
RISING = {name: (n, k, [min(0.01 * j, 0.05) for j in range(len(CURVE_STEPS))]) for name, (n, k, _) in EXP1.items()}
FLAT = {name: (n, k, [0.0] * len(CURVE_STEPS)) for name, (n, k, _) in EXP1.items()}
CURVES = [("exp1 shape", EXP1), ("rising (control)", RISING), ("flat (control)", FLAT)]
VARIATION = [(0.0, 0.0), (0.01, 0.0), (0.01, 0.5), (0.02, 0.0), (0.02, 0.5)]  # (sd, AR(1) rho)
GPU_HOURS_PER_STEP, USD_PER_GPU_HOUR = 96 / 500, 0.4375


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--persistence", type=int, default=2)
    parser.add_argument("--checkpoint-variation", type=float, default=0.02, help="the largest the detector assumes")
    parser.add_argument("--every", type=int, default=50, help="steps between evaluations")
    args = parser.parse_args()
    steps = list(range(0, CURVE_STEPS[-1] + 1, args.every))
    levels = {"alpha": args.alpha, "persistence": args.persistence, "variation": args.checkpoint_variation}
    print(f"alpha {args.alpha}, persistence {args.persistence}, checkpoint variation up to "
          f"{100 * args.checkpoint_variation:g} points assumed, evaluated every {args.every} steps, "
          f"{args.trials} runs per row\n")  # fmt: skip
    print("| curve | checkpoint variation | stopped early | median stop step | GPU-hours saved (mean) "
          "| USD saved (mean) | chosen vs best true score, points (mean, worst 5%) | same without early stop "
          "| earliest tied step instead |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for (label, spec), (sd, rho) in itertools.product(CURVES, VARIATION):
        stops, saved, regret, regret_full, regret_tied = [], [], [], [], []
        for _ in range(args.trials):
            every = {name: (n, k, np.interp(steps, CURVE_STEPS, curve)) for name, (n, k, curve) in spec.items()}
            results, truth = simulate_benchmarks(rng, every, sd, rho, every=args.every)
            full = analyse(results, **levels)
            stop = full.confirmed_at if full.confirmed_at is not None else steps[-1]
            seen = analyse({s: r for s, r in results.items() if s <= stop}, **levels)
            stops.append(stop)
            saved.append((steps[-1] - stop) * GPU_HOURS_PER_STEP)
            regret.append(100 * (truth.max() - truth[steps.index(seen.peak_step)]))
            regret_full.append(100 * (truth.max() - truth[steps.index(full.peak_step)]))
            regret_tied.append(100 * (truth.max() - truth[steps.index(seen.earliest_tied_step)]))
        early = [s for s in stops if s < steps[-1]]
        worst = lambda xs: float(np.quantile(xs, 0.95))  # noqa: E731
        variation = f"{100 * sd:g} points, {'AR(1) 0.5' if rho else 'independent'}" if sd else "none"
        print(
            f"| {label} | {variation} | {len(early) / args.trials:.1%} | "
            f"{statistics.median(early) if early else '-'} | "
            f"{np.mean(saved):.1f} | {np.mean(saved) * USD_PER_GPU_HOUR:.2f} | {np.mean(regret):.2f}, "
            f"{worst(regret):.2f} | {np.mean(regret_full):.2f}, {worst(regret_full):.2f} | "
            f"{np.mean(regret_tied):.2f}, {worst(regret_tied):.2f} |"
        )


if __name__ == "__main__":
    main()
