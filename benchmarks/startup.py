"""Seconds to print a resolved config (`--cfg job`) against its floor, the commands run alternately.

    python benchmarks/startup.py --repeats 10

The floor is a bare Hydra app composing the same conf/ tree with the same overrides and printing it, with no
openrs code: openrs's Hydra plugins (hydra_plugins/) are hidden from Hydra's plugin scan, which would otherwise
import the Optuna sweeper, and with it openrs.run_folder, into every Hydra app of the environment.
Importing trl (lazy) and its GRPOTrainer (torch and transformers: what a training job pays) are the references above.
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONF = Path(__file__).resolve().parent.parent / "conf"
FLOOR = f"""
from pathlib import Path
import hydra_plugins
hydra_plugins.__path__ = [p for p in hydra_plugins.__path__ if not (Path(p).parent / "openrs").is_dir()]
import hydra
from omegaconf import OmegaConf

@hydra.main(version_base="1.3", config_path={str(CONF)!r}, config_name="config")
def main(cfg):
    print(OmegaConf.to_yaml(cfg))

main()
"""
JOB = ["+experiment=exp3", "reward=cosine", "--cfg", "job"]
COMMANDS = {
    "openrs --cfg job": [sys.executable, "-m", "openrs", *JOB],
    "bare Hydra app --cfg job (floor)": [sys.executable, "-c", FLOOR, *JOB],
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
    floor = statistics.median(times["bare Hydra app --cfg job (floor)"])
    print("| command | median s | min s | max s | above the floor, s |")
    print("|---|---|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| `{name}` | {med:.2f} | {min(ts):.2f} | {max(ts):.2f} | {med - floor:+.2f} |")


if __name__ == "__main__":
    main()
