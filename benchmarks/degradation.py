"""How often the degradation detector raises a false alarm, and how soon it finds a real drop.

    python benchmarks/degradation.py --trials 400

1. One benchmark, no checkpoint variation (simulated_runs.simulate_run, difficulty Beta(3, 1.5)): 10
   evaluations 50 steps apart, flat, rising (+8 points) and the paper's Figure 2 shape (+5 points by step
   100, then 10 points down from that peak at step 250); for each benchmark size and k the share of runs
   with any onset (false alarm on flat/rising), the share of drops confirmed by step 350 (within two
   evaluations of the onset) and the median confirmation step.
2. The step-wise preset (AMC23 40 problems x 8 samples + MATH-500 500 x 1, evaluated every 50 steps to
   500: 11 evaluations; simulated_runs.simulate_benchmarks) with checkpoint variation shared by both
   benchmarks: none, or 1, 2 and 3 points (sd), independent or AR(1) rho 0.5; difficulty Beta(3, 1.5) or
   logistic (item response, logits ~ Normal(1, 1.5)); change even (every problem moves alike) or uneven
   (half the problems move by -shift, the other half by 3 x shift). Curves: flat, rising, the Figure 2
   drop (found = confirmed by step 350), a monotone decline of 2.5 points per evaluation from step 250 and
   an accelerating one (1, 3, 6, 10, 15, 21 points down), both 10 points down at step 400 (found =
   confirmed from step 250 to step 500, within two evaluations of reaching 10 points). On flat runs even
   and uneven change are the same run.
3. Flat runs outside the detector's assumptions: a hard benchmark and samples per problem changing mid-run.
"""

import argparse
import statistics
import warnings

import numpy as np
from simulated_runs import simulate_benchmarks, simulate_run

from openrs.selection.degradation import analyse

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
# The step-wise preset's curves (11 evaluations) and the confirmation steps that count as found.
PRESET = {
    "flat": ([0.0] * 11, None),
    "rising": ([0, 0.02, 0.04, 0.05, 0.06, 0.06, 0.07, 0.07, 0.08, 0.08, 0.08], None),
    "drop": ([0, 0.03, 0.05, 0.05, 0.05] + [-0.05] * 6, (250, 350)),
    "monotone decline": ([0] * 5 + [-0.025, -0.05, -0.075, -0.1, -0.125, -0.15], (250, 500)),
    "accelerating decline": ([0] * 5 + [-0.01, -0.03, -0.06, -0.1, -0.15, -0.21], (250, 500)),
}
VARIATION = [(0.0, 0.0), (0.01, 0.0), (0.02, 0.0), (0.03, 0.0), (0.01, 0.5), (0.02, 0.5), (0.03, 0.5)]


def single_benchmarks(trials: int, alpha: float) -> None:
    print(
        "| problems | k | false alarms, flat | false alarms, rising | drop found by step 350 | median step confirmed |"
    )
    print("|---|---|---|---|---|---|")
    for problems, k in [(30, 4), (40, 1), (40, 4), (40, 16), (500, 1), (500, 4)]:
        rng = np.random.default_rng(problems * 100 + k)
        runs = {name: [analyse(simulate_run(rng, problems, k, c), alpha) for _ in range(trials)]
                for name, c in CURVES.items()}  # fmt: skip
        alarms = {n: sum(d.onset_step is not None for d in runs[n]) / trials for n in ("flat", "rising")}
        confirmed = [d.confirmed_at for d in runs["drop"] if d.confirmed_at is not None]
        found = sum(250 <= c <= 350 for c in confirmed) / trials
        median = f"{statistics.median(confirmed):g}" if confirmed else "none"
        print(f"| {problems} | {k} | {alarms['flat']:.1%} | {alarms['rising']:.1%} | {found:.1%} | {median} |")


def preset(trials: int, alpha: float, models: list[str], curves: list[str], variation: float) -> None:
    print("| difficulty | change | checkpoint variation | " + " | ".join(
        f"{name}: {'found' if PRESET[name][1] else 'false alarms'}" for name in curves) + " |")  # fmt: skip
    print("|---" * (3 + len(curves)) + "|")
    for model in models:
        for uneven in (False, True):
            for sd, rho in VARIATION:
                cells = []
                for name in curves:
                    curve, window = PRESET[name]
                    if uneven and name == "flat":
                        cells.append("(as even)")
                        continue
                    rng = np.random.default_rng(len(name) + int(1000 * sd) + int(10 * rho))
                    spec = {"amc23": (40, 8, curve), "math500": (500, 1, curve)}
                    hits = 0
                    for _ in range(trials):
                        results, _ = simulate_benchmarks(rng, spec, sd, rho, model=model, uneven=uneven)
                        at = analyse(results, alpha, looks=len(curve), variation=variation).confirmed_at
                        hits += at is not None and (window is None or window[0] <= at <= window[1])
                    cells.append(f"{hits / trials:.1%}")
                label = f"{100 * sd:g} points, {'AR(1) 0.5' if rho else 'independent'}" if sd else "none"
                print(f"| {model} | {'uneven' if uneven else 'even'} | {label} | " + " | ".join(cells) + " |",
                      flush=True)  # fmt: skip


def outside(trials: int, alpha: float) -> None:
    print("| flat run | false alarms |\n|---|---|")
    warnings.simplefilter("ignore")  # analyse warns that k changes: that is the point here
    for label, (problems, k, difficulty) in OUTSIDE.items():
        rng = np.random.default_rng(len(label))
        runs = [analyse(simulate_run(rng, problems, k, CURVES["flat"], difficulty=difficulty), alpha)
                for _ in range(trials)]  # fmt: skip
        print(f"| {label} | {sum(d.onset_step is not None for d in runs) / trials:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--only", choices=["single", "preset", "outside"], default=None)
    parser.add_argument("--models", nargs="+", default=["beta", "logistic"], help="difficulty models of table 2")
    parser.add_argument("--curves", nargs="+", default=list(PRESET), choices=list(PRESET), help="curves of table 2")
    parser.add_argument("--checkpoint-variation", type=float, default=0.02, help="the largest the detector assumes")
    args = parser.parse_args()
    print(f"alpha {args.alpha}, persistence 2, checkpoint variation up to {100 * args.checkpoint_variation:g} points "
          f"assumed (table 2), {args.trials} runs a cell\n")  # fmt: skip
    tables = {"single": single_benchmarks,
              "preset": lambda t, a: preset(t, a, args.models, args.curves, args.checkpoint_variation),
              "outside": outside}  # fmt: skip
    for name, table in tables.items():
        if args.only in (None, name):
            table(args.trials, args.alpha)
            print()


if __name__ == "__main__":
    main()
