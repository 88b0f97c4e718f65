"""Seconds per optimizer step: the smoke job through openrs against the same job as a plain TRL script.

    python benchmarks/step_time.py --steps 30 --rounds 3

Both train the same warm-started tiny model (built first, outside the timings) for --steps steps with the
smoke experiment's settings; openrs via `python -m openrs +experiment=smoke`, the baseline via
benchmarks/plain_trl.py. Runs alternate (openrs first in odd rounds, plain first in even ones) so that
drift of the machine hits both. Per step = the trainer's own train_runtime / steps (generation, rewards,
backward, optimizer, callbacks, checkpoint saves); whole run = process wall time including imports,
model load and data preparation.
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


def run(cmd: list[str]) -> tuple[float, float]:
    """(train_runtime s, process wall s) of one training command."""
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True)
    wall = time.monotonic() - start
    found = RUNTIME.search(proc.stdout + proc.stderr)
    if proc.returncode or not found:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return float(found.group(1)), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from hydra import compose, initialize_config_dir

    from openrs import CONF_DIR
    from openrs.config import load_job
    from openrs.tiny import tiny_model_path

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        job = load_job(compose("config", overrides=["+experiment=smoke", "output_dir=unused"]))
    model = tiny_model_path(job.model.tiny)  # built once here, not inside a timed run

    results: dict[str, list[tuple[float, float]]] = {"openrs": [], "plain TRL": []}
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "openrs": lambda out: [sys.executable, "-m", "openrs", "+experiment=smoke",
                                   f"trainer.max_steps={args.steps}", f"hydra.run.dir={out}"],
            "plain TRL": lambda out: [sys.executable, str(HERE / "plain_trl.py"), str(model), out,
                                      "--steps", str(args.steps)],
        }  # fmt: skip
        for r in range(args.rounds):
            order = list(commands) if r % 2 == 0 else list(reversed(commands))
            for name in order:
                runtime, wall = run(commands[name](f"{tmp}/{name.replace(' ', '_')}-{r}"))
                results[name].append((runtime, wall))
                print(f"round {r + 1}/{args.rounds} {name}: {runtime / args.steps:.3f} s/step, {wall:.1f} s wall",
                      file=sys.stderr, flush=True)  # fmt: skip

    base = statistics.median(rt for rt, _ in results["plain TRL"]) / args.steps
    print(f"\n{args.steps} steps x {args.rounds} rounds\n")
    print("| job | median s/step | min s/step | max s/step | vs plain TRL | median wall s |")
    print("|---|---|---|---|---|---|")
    for name, runs in results.items():
        per_step = [rt / args.steps for rt, _ in runs]
        med = statistics.median(per_step)
        print(f"| {name} | {med:.3f} | {min(per_step):.3f} | {max(per_step):.3f} | {med / base - 1:+.1%} | "
              f"{statistics.median(w for _, w in runs):.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
