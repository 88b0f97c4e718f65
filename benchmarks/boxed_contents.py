"""Finding the boxed answers of a degenerate completion: seconds by nesting depth, this checkout's scan against
another revision's (`--against REV`, read with `git show REV:openrs/grading/answers.py`).

    python benchmarks/boxed_contents.py --against 651c2e5

A policy can write `\\boxed{` thousands of times at the length cap; the scan runs in the trainer's process for
every completion. Shapes: nested (`\\boxed{` x depth, `1`, `}` x depth), left open (`\\boxed{` x depth), many
boxes (`\\boxed{1}` x depth), and an ordinary completion (a sentence with some LaTeX x depth, one box). Each cell
is the best of --repeats runs, both scans interleaved on the same text.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from pathlib import Path

from openrs.grading.answers import boxed_contents

SHAPES = {
    "nested": lambda d: "\\boxed{" * d + "1" + "}" * d,
    "left open": lambda d: "\\boxed{" * d,
    "many boxes": lambda d: "\\boxed{1}" * d,
    # An ordinary long completion: reasoning with some LaTeX, one answer at the end.
    "reasoning": lambda d: "Then $\\frac{a}{b} + x^{2} = 3$, so the sum we want is " * d + "\\boxed{1}",
}


def revision_scan(rev: str):
    source = subprocess.run(["git", "show", f"{rev}:openrs/grading/answers.py"], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).parent).stdout  # fmt: skip
    module = types.ModuleType("answers_at_rev")
    sys.modules[module.__name__] = module  # its dataclasses look their module up
    exec(compile(source, f"{rev}:answers.py", "exec"), module.__dict__)  # noqa: S102 - this repository's own code
    return module.boxed_contents


def best(scan, text: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        scan(text)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="a git revision whose scan to time beside this checkout's")
    parser.add_argument("--depths", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    other = revision_scan(args.against) if args.against else None
    print(f"| shape | depth | characters | this checkout, s |{f' {args.against}, s |' if other else ''}")
    print(f"|---|---|---|---|{'---|' if other else ''}")
    for shape, make in SHAPES.items():
        for depth in args.depths:
            text = make(depth)
            ours = best(boxed_contents, text, args.repeats)
            theirs = f" {best(other, text, args.repeats):.3f} |" if other else ""
            print(f"| {shape} | {depth:,} | {len(text):,} | {ours:.4f} |{theirs}", flush=True)


if __name__ == "__main__":
    main()
