"""Seconds to print a resolved config (`--cfg job`) against importing trl, the commands run alternately.

    python benchmarks/startup.py --repeats 10

Inspection must not pay for torch/transformers/trl; this shows by how much it does not.
"""

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "openrs --cfg job": [sys.executable, "-m", "openrs", "+experiment=exp3", "reward=cosine", "--cfg", "job"],
    "openrs --help": [sys.executable, "-m", "openrs", "--help"],
    "import trl": [sys.executable, "-c", "import trl"],
    # What a training job pays: trl imports lazily, GRPOTrainer pulls in torch and transformers.
    "from trl import GRPOTrainer": [sys.executable, "-c", "from trl import GRPOTrainer"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="runs of each command, interleaved")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for cmd in COMMANDS.values():  # warm the page cache once
        subprocess.run(cmd, check=True, capture_output=True)
    for i in range(args.repeats):
        for name, cmd in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
        print(f"\rround {i + 1}/{args.repeats}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    base = statistics.median(times["import trl"])
    print("| command | median s | min s | max s | vs import trl |")
    print("|---|---|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| `{name}` | {med:.2f} | {min(ts):.2f} | {max(ts):.2f} | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
