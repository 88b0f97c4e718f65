"""Completions graded per second, and every verdict that differs: the original open-rs accuracy reward, the
same calls over a process pool, and openrs's accuracy reward.

    python benchmarks/grading.py --rounds 2

The completions are built from the five shipped benchmarks' gold answers: per problem one right (the gold
in a box) and one wrong (a digit of the gold changed, or +1 appended), and for every third problem a
malformed one (the answer with no box, a cut-off box, or an empty box), each after a few hundred
characters of reasoning. openrs gets the gold as stored (the `answer` column); the original gets it as
`\\boxed{answer}`, the form a training solution carries it in (as stored, `27.0` or `204` without `$` or a
box, the original's gold parse finds nothing and it pays 1 for every completion).

(a) original: `accuracy_reward` of knoveleng/open-rs src/open_r1/rewards.py, its calls verbatim (gold:
    `parse(sol, first_match, [LatexExtractionConfig()])`; completion: `LatexExtractionConfig(boxed_match_priority=0,
    try_extract_without_anchor=False)` with its normalization; `verify(pred, gold)`; an unparseable gold
    scores 1), one core, math-verify's own 5 s timeouts;
(b) original, pool: the same function over a process pool of all cores, one step (72 completions) at a time;
(c) openrs: `accuracy` (answer rules + the grading pool, conf/ settings), one step at a time.
Rounds alternate the order; every pool is started and warm before timing.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import math
import multiprocessing
import os
import random
import statistics
import sys
import time
from pathlib import Path

from mutation_cases import written

BATCH = 72  # completions in one optimizer step of the paper
EVAL_DATA = Path(__file__).resolve().parents[1] / "openrs" / "data" / "benchmarks"


def reasoning(rng: random.Random) -> str:
    steps = [f"Step {i}: we have {rng.randint(2, 99)} + {rng.randint(2, 99)}, so we simplify." for i in range(8)]
    return "<think>\n" + " ".join(steps) + "\nThat gives the result.\n</think>\n"


def perturb(answer: str, rng: random.Random) -> str:
    digits = [i for i, c in enumerate(answer) if c.isdigit()]
    if not digits:
        return answer + "+1"
    i = rng.choice(digits)
    return answer[:i] + str((int(answer[i]) + rng.randint(1, 8)) % 10) + answer[i + 1 :]


def build_completions(seed: int = 0) -> list[tuple[object, str, str]]:
    """(gold answer as stored, kind, completion): kind is right, wrong, no_box, cut_box or empty_box."""
    rng = random.Random(seed)
    out = []
    for path in sorted(EVAL_DATA.glob("*.jsonl")):
        for n, line in enumerate(path.open()):
            gold = json.loads(line)["answer"]
            text = written(gold)
            out.append((gold, "right", reasoning(rng) + f"The final answer is $\\boxed{{{text}}}$."))
            out.append((gold, "wrong", reasoning(rng) + f"The final answer is $\\boxed{{{perturb(text, rng)}}}$."))
            if n % 3 == 0:
                kind, bad = rng.choice(
                    [("no_box", "The answer is " + text), ("cut_box", f"\\boxed{{{text}"), ("empty_box", "\\boxed{}")]
                )
                out.append((gold, kind, reasoning(rng) + bad))
    return out


def original_accuracy(content: str, sol: object) -> float:
    """The calls of open-rs `accuracy_reward` for one completion (its print statements left out)."""
    from latex2sympy2_extended import NormalizationConfig
    from math_verify import LatexExtractionConfig, parse, verify

    gold_parsed = parse(sol, extraction_mode="first_match", extraction_config=[LatexExtractionConfig()])
    if len(gold_parsed) != 0:
        answer_parsed = parse(
            content,
            extraction_config=[
                LatexExtractionConfig(
                    normalization_config=NormalizationConfig(
                        nits=False, malformed_operators=False, basic_latex=True, equations=True, boxed="all", units=True
                    ),
                    boxed_match_priority=0,
                    try_extract_without_anchor=False,
                )
            ],
            extraction_mode="first_match",
        )
        try:
            return float(verify(answer_parsed, gold_parsed))
        except Exception:  # noqa: BLE001 - as the original
            return 0.0
    return 1.0  # "If the gold solution is not parseable, we reward 1 to skip this example"


def _original_batch(batch: list[tuple[str, str]]) -> list[float]:
    return [original_accuracy(content, sol) for content, sol in batch]


def run_original(items, executor=None, workers: int = 1) -> list[float]:
    out: list[float] = []
    for start in range(0, len(items), BATCH):
        step = [(c, f"\\boxed{{{written(g)}}}") for g, _, c in items[start : start + BATCH]]
        if executor is None:
            out += _original_batch(step)
        else:
            size = math.ceil(len(step) / workers)
            for part in executor.map(_original_batch, [step[i : i + size] for i in range(0, len(step), size)]):
                out += part
    return out


def run_openrs(items, reward) -> list[float | None]:
    out: list[float | None] = []
    for start in range(0, len(items), BATCH):
        step = items[start : start + BATCH]
        out += reward(prompts=[""] * len(step), completions=[c for _, _, c in step], answer=[g for g, _, _ in step])
    return out


def difference_class(kind: str, original: float, outcome: str) -> tuple[str, str]:
    """(class, who is right) for a completion graded differently. A right answer is worth 1 and a wrong one
    0; an answer outside a complete box is 0 in openrs by rule (the prompt asks for \\boxed{})."""
    if outcome == "unparseable_gold":
        return "gold unparseable: original pays 1, openrs skips (None)", "openrs"
    if kind in ("no_box", "cut_box", "empty_box"):
        return f"{kind}: original read an answer without a complete box", "rule (openrs 0 by design)"
    paid = "the original" if original == 1.0 else "openrs"
    if kind == "right":
        return f"right answer, graded wrong by {'openrs' if paid == 'the original' else 'the original'}", paid
    return f"wrong answer, graded correct by {paid}", "openrs" if paid == "the original" else "the original"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds of each, order alternating")
    args = parser.parse_args()

    from hydra import compose, initialize_config_dir

    from openrs import CONF_DIR
    from openrs.grading.answers import prediction_of, prepare_gold
    from openrs.resolve.load import load_job
    from openrs.rewards import build_rewards
    from openrs.rewards.correctness import pool_for

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        params = load_job(compose("config", overrides=["output_dir=/tmp/bench"])).reward
    params = params.model_copy(update={"funcs": ["accuracy"], "weights": [1.0]})
    (reward,) = build_rewards(params)
    pool = pool_for(params)  # started once per job, as in training
    cores = os.cpu_count() or 1
    executor = concurrent.futures.ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("forkserver"))
    list(executor.map(_original_batch, [[("\\boxed{1}", "1")]] * cores))  # start and warm every worker
    original_accuracy("\\boxed{1}", "1")

    items = build_completions()
    print(f"{len(items)} completions, {cores} cores, {pool.n_workers} openrs grading workers", file=sys.stderr)
    graders = {
        "original, 1 core": lambda: run_original(items),
        f"original, pool of {cores}": lambda: run_original(items, executor, cores),
        "openrs": lambda: run_openrs(items, reward),
    }
    times: dict[str, list[float]] = {name: [] for name in graders}
    verdicts: dict[str, list] = {}
    for r in range(args.rounds):
        for name in list(graders) if r % 2 == 0 else reversed(graders):
            pool._cache.clear()  # each round grades from scratch, like new completions
            start = time.perf_counter()
            verdicts[name] = graders[name]()
            times[name].append(time.perf_counter() - start)
            print(f"round {r + 1}: {name} {times[name][-1]:.1f} s", file=sys.stderr)
    executor.shutdown()

    med = {k: statistics.median(v) for k, v in times.items()}
    print("| grader | median s | completions/s | vs original, 1 core |")
    print("|---|---|---|---|")
    first = next(iter(med))
    for name, m in med.items():
        print(f"| {name} | {m:.1f} | {len(items) / m:.0f} | {med[first] / m:.2f}x |")

    original, pooled, ours = verdicts.values()
    golds = [prepare_gold(g) for g, _, _ in items]
    outcomes = pool.grade([(g, prediction_of(c, g)) for g, (_, _, c) in zip(golds, items, strict=True)])
    same_engine = sum(a != b for a, b in zip(original, pooled, strict=True))
    print(f"\noriginal on 1 core and over the pool differ on {same_engine} items (math-verify's own timeouts)")
    diffs = [
        (i, *difference_class(kind, original[i], outcomes[i]))
        for i, (_, kind, _) in enumerate(items)
        if original[i] != ours[i]
    ]
    counts = dict(collections.Counter(outcomes))
    print(f"original and openrs differ on {len(diffs)} of {len(items)}; openrs outcomes {counts}")
    print("\n| class | who is right | items |\n|---|---|---|")
    for (cls, right), n in collections.Counter((c, w) for _, c, w in diffs).most_common():
        print(f"| {cls} | {right} | {n} |")
    print()
    for i, cls, right in sorted(diffs, key=lambda d: d[1]):
        gold, kind, completion = items[i]
        print(
            f"- {cls} ({right}): gold {gold!r}, answer {completion.split('</think>')[-1].strip()[:100]!r}: "
            f"original {original[i]}, openrs {ours[i]} ({outcomes[i]})"
        )


if __name__ == "__main__":
    main()
