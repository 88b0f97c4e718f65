"""Seconds per optimizer step: openrs against the same job as a plain TRL script, like for like.

    python benchmarks/step_time.py --steps 100 --rounds 5

Four runs per round of the smoke job (`+experiment=smoke`, the warm-started tiny model built first, outside
the timings), all on the same rows, with the same rewards, GRPOConfig and seed:
- openrs, eval off: `python -m openrs +experiment=smoke eval.every_steps=null`, tracked in a SQLite MLflow
  store (its callbacks, MLflow logging and checkpoint saves are the framework's cost);
- openrs, eval on: the same with the smoke preset's step-wise evaluation (steps 0, 50, 100, ...);
- plain TRL: benchmarks/plain_trl.py, the job's rows, rewards and GRPOConfig handed straight to GRPOTrainer;
- plain TRL, main-thread grading: the same, the accuracy reward graded on the training thread without the
  grading pool and its cache.
Runs rotate their order from round to round so that drift of the machine hits each alike. Per step = the
trainer's own train_runtime / steps (generation, rewards, backward, optimizer, callbacks, checkpoint saves);
wall = the whole process (imports, model load, data). Each run's mean rewards at the logged steps are
compared with plain TRL's of the same round: identical values show that both sides did the same work.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNTIME = re.compile(r"'train_runtime': '([0-9.]+)'")
REWARD = re.compile(r"'reward': '([-0-9.e]+)'")
BASELINE = "plain TRL"


def run(cmd: list[str]) -> tuple[float, float, list[str]]:
    """(train_runtime s, process wall s, mean reward at each logged step) of one training command."""
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True)
    wall = time.monotonic() - start
    output = proc.stdout + proc.stderr
    found = RUNTIME.search(output)
    if proc.returncode or not found:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return float(found.group(1)), wall, REWARD.findall(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from hydra import compose, initialize_config_dir

    from openrs import CONF_DIR
    from openrs.model.tiny import tiny_model_path
    from openrs.resolve.load import load_job

    job_overrides = ["+experiment=smoke", f"trainer.max_steps={args.steps}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        job = load_job(compose("config", overrides=[*job_overrides, "output_dir=unused"]))
    tiny_model_path(job.model.tiny)  # built once here, not inside a timed run

    results: dict[str, list[tuple[float, float, list[str]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        openrs = [sys.executable, "-m", "openrs", *job_overrides, f"tracking.uri=sqlite:///{tmp}/mlflow.db"]
        plain = [sys.executable, str(HERE / "plain_trl.py")]
        commands = {
            "openrs, eval off": lambda out: [*openrs, "eval.every_steps=null", f"hydra.run.dir={out}"],
            "openrs, eval on": lambda out: [*openrs, f"hydra.run.dir={out}"],
            BASELINE: lambda out: [*plain, out, "--grading", "pool", *job_overrides],
            "plain TRL, main-thread grading": lambda out: [*plain, out, "--grading", "main-thread", *job_overrides],
        }
        names = list(commands)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                folder = re.sub(r"\W+", "_", name)
                runtime, wall, rewards = run(commands[name](f"{tmp}/{folder}-{r}"))
                results.setdefault(name, []).append((runtime, wall, rewards))
                print(f"round {r + 1}/{args.rounds} {name}: {runtime / args.steps:.3f} s/step, {wall:.1f} s wall",
                      file=sys.stderr, flush=True)  # fmt: skip

    base = statistics.median(rt for rt, _, _ in results[BASELINE]) / args.steps
    print(f"\n{args.steps} steps x {args.rounds} rounds\n")
    print(f"| job | median s/step | min s/step | max s/step | vs {BASELINE} | median wall s | "
          f"rewards as {BASELINE}'s |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        per_step = [rt / args.steps for rt, _, _ in runs]
        med = statistics.median(per_step)
        same = sum(rw == base_rw for (_, _, rw), (_, _, base_rw) in zip(runs, results[BASELINE], strict=True))
        print(f"| {name} | {med:.3f} | {min(per_step):.3f} | {max(per_step):.3f} | {med / base - 1:+.1%} | "
              f"{statistics.median(w for _, w, _ in runs):.1f} | {same}/{len(runs)} rounds |")  # fmt: skip
    logged = len(results[BASELINE][0][2])
    print(f"\n(rewards compared at the {logged} logged steps of each run)")


if __name__ == "__main__":
    main()
