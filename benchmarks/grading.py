"""Completions graded per second: openrs's accuracy reward against a sequential main-thread math-verify loop.

    python benchmarks/grading.py --data ../shared/data/eval --rounds 3

Both grade the same realistic completions built from the five benchmarks' gold answers (right, wrong and
malformed, with a few hundred characters of reasoning before the answer). The baseline is the original
approach: on the main thread, for each completion, `parse` the gold, `parse` the completion, `verify`. openrs
grades each step-sized batch through `accuracy` (answer rules + worker pool, started once before timing).
Verdicts are compared on every item both graded: the baseline parsed both sides, and openrs found a complete
\boxed{} answer (openrs scores an answer outside a box 0 by rule, where math-verify alone extracts it).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

BATCH = 72  # completions in one optimizer step of the paper


def reasoning(rng: random.Random) -> str:
    steps = [f"Step {i}: we have {rng.randint(2, 99)} + {rng.randint(2, 99)}, so we simplify." for i in range(8)]
    return "<think>\n" + " ".join(steps) + "\nThat gives the result.\n</think>\n"


def perturb(answer: str, rng: random.Random) -> str:
    digits = [i for i, c in enumerate(answer) if c.isdigit()]
    if not digits:
        return answer + "+1"
    i = rng.choice(digits)
    return answer[:i] + str((int(answer[i]) + rng.randint(1, 8)) % 10) + answer[i + 1 :]


def build_completions(data: Path, seed: int = 0) -> list[tuple[str, str]]:
    """(gold answer, completion) pairs: per benchmark row one right, one wrong, and every third row a
    malformed one (no box, a cut-off box, or an empty box)."""
    rng = random.Random(seed)
    pairs = []
    for path in sorted(data.glob("*.jsonl")):
        for n, line in enumerate(path.open()):
            gold = str(json.loads(line)["answer"])
            if gold.endswith(".0"):  # AMC23's floats, as a model would write them
                gold_text = gold[:-2]
            else:
                gold_text = gold.strip("$")
            pairs.append((gold, reasoning(rng) + f"The final answer is $\\boxed{{{gold_text}}}$."))
            pairs.append((gold, reasoning(rng) + f"The final answer is $\\boxed{{{perturb(gold_text, rng)}}}$."))
            if n % 3 == 0:
                bad = rng.choice(["The answer is " + gold_text, f"\\boxed{{{gold_text}", "\\boxed{}"])
                pairs.append((gold, reasoning(rng) + bad))
    return pairs


def baseline(pairs: list[tuple[str, str]]) -> list[bool | None]:
    """Sequential main-thread math-verify: None where gold or completion did not parse."""
    from math_verify import parse, verify

    out = []
    for gold, completion in pairs:
        g, p = parse(f"${gold}$"), parse(completion)
        out.append(verify(g, p) if g and p else None)
    return out


def openrs_accuracy(pairs: list[tuple[str, str]], reward) -> list[float | None]:
    out = []
    for start in range(0, len(pairs), BATCH):
        batch = pairs[start : start + BATCH]
        out += reward(prompts=[""] * len(batch), completions=[c for _, c in batch], answer=[g for g, _ in batch])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/eval")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each, alternating")
    args = parser.parse_args()

    from hydra import compose, initialize_config_dir

    from openrs import CONF_DIR
    from openrs.answers import prediction_of, prepare_gold
    from openrs.config import load_job
    from openrs.grading import SCORES
    from openrs.rewards import build_rewards
    from openrs.rewards.correctness import pool_for

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        params = load_job(compose("config", overrides=["output_dir=/tmp/bench"])).reward
    params = params.model_copy(update={"funcs": ["accuracy"], "weights": [1.0]})
    (reward,) = build_rewards(params)
    pool = pool_for(params)  # started once per job, as in training

    pairs = build_completions(args.data)
    print(f"{len(pairs)} completions from {args.data}, {pool.n_workers} grading workers", file=sys.stderr)
    times: dict[str, list[float]] = {"baseline": [], "openrs": []}
    for r in range(args.rounds):
        start = time.perf_counter()
        base = baseline(pairs)
        times["baseline"].append(time.perf_counter() - start)
        pool._cache.clear()  # each round grades from scratch, like new completions
        start = time.perf_counter()
        ours = openrs_accuracy(pairs, reward)
        times["openrs"].append(time.perf_counter() - start)
        print(
            f"round {r + 1}/{args.rounds}: {times['baseline'][-1]:.1f} s vs {times['openrs'][-1]:.1f} s",
            file=sys.stderr,
        )

    # openrs grades an item when it found a complete \boxed{} answer and the gold parsed (correct/wrong).
    golds = [prepare_gold(g) for g, _ in pairs]
    outcomes = pool.grade([(g, prediction_of(c, g)) for g, (_, c) in zip(golds, pairs, strict=True)])
    assert [SCORES[o] for o in outcomes] == ours
    graded_by_both = [
        i for i, (b, o) in enumerate(zip(base, outcomes, strict=True)) if b is not None and o in ("correct", "wrong")
    ]
    both = [(base[i], outcomes[i] == "correct") for i in graded_by_both]
    disagree = [(pairs[i], base[i], outcomes[i]) for i in graded_by_both if base[i] != (outcomes[i] == "correct")]
    med = {k: statistics.median(v) for k, v in times.items()}
    print("| grader | median s | completions/s | speed-up |")
    print("|---|---|---|---|")
    for name in ("baseline", "openrs"):
        print(f"| {name} | {med[name]:.1f} | {len(pairs) / med[name]:.0f} | {med['baseline'] / med[name]:.2f}x |")
    same = len(both) - len(disagree)
    print(f"\nverdicts compared on {len(both)} items both graded: {same} identical, {len(disagree)} differ")
    print(f"baseline could not grade {sum(b is None for b in base)}; openrs outcomes: {dict(Counter(outcomes))}")
    unboxed = sum(1 for b, o in zip(base, outcomes, strict=True) if b and o == "no_answer")
    print(f"answers without a complete \\boxed{{}} that the baseline accepted and openrs scores 0 by rule: {unboxed}")
    for (gold, completion), b, o in disagree[:20]:
        print(f"- gold {gold!r}: baseline {b}, openrs {o}: ...{completion[-60:]!r}")


if __name__ == "__main__":
    main()
