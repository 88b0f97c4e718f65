"""Agreement of `eval=paper` grading with lighteval's own metric, the one the Open-RS paper evaluated with.

    python benchmarks/lighteval_agreement.py --lighteval-python /tmp/lighteval-venv/bin/python

Builds R1-style completions for every problem of the five shipped benchmarks (openrs/data/benchmarks): reasoning
that restates the problem (its numbers and LaTeX are what a fallback extraction can pick up), closed by
`</think>`, then one of VARIANTS: the right or a wrong answer boxed, the paper template's last line, the
answer in prose without a box, a first box corrected by a second, a reasoning cut off before any answer.
openrs grades them through `openrs.evaluation.harness.evaluate` with `eval=paper` (the real prompts, gold selection
and grading pool; a scripted generator returns the completions). lighteval grades the same (gold, completion)
pairs in its own environment (`--lighteval-python`, a venv with lighteval installed; not a project
dependency), with `latex_gold_metric` / `expr_gold_metric` built exactly as open-rs src/open_r1/evaluate.py
builds them. Prints the agreement per variant and per benchmark, then every disagreement class with
examples.

lighteval at the paper's commit (ed084813) installs from its source, with the deps its metric imports:
    python -m venv /tmp/lighteval-venv && /tmp/lighteval-venv/bin/pip install --no-deps SRC \\
      && /tmp/lighteval-venv/bin/pip install latex2sympy2_extended==1.0.6 sympy aenum nltk ...
(benchmarks/README.md has the exact list). This file runs under both interpreters: `--grade-lighteval`
is the lighteval side and imports nothing from openrs.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from grading import perturb  # benchmarks/grading.py: one digit changed

VARIANTS = {
    # name: (ending after the reasoning, whether a grader should call it correct)
    "boxed_right": ("So the answer is $\\boxed{{{right}}}$.", True),
    "template_right": ("Therefore, the final answer is: $\\boxed{{{right}}}$. I hope it is correct", True),
    "boxed_wrong": ("So the answer is $\\boxed{{{wrong}}}$.", False),
    "prose_right": ("The answer is ${right}$.", True),
    "plain_right": ("So the final answer is {right}", True),
    "corrected_box": (
        "At first I got $\\boxed{{{wrong}}}$, but I made a slip; redoing it gives $\\boxed{{{right}}}$.",
        True,
    ),  # fmt: skip
    "empty_box": ("So the answer is $\\boxed{{}}$.", False),
    "cut_off": (None, False),  # the length cap hit mid-reasoning: no closing tag, no answer
}


def written(answer: object) -> str:
    """A gold answer as a model would write it: AMC23's 27.0 as 27, OlympiadBench's `$x$` as x."""
    text = str(answer).strip()
    if isinstance(answer, float) and answer.is_integer():
        return str(int(answer))
    return text.replace("$", "") if text.startswith("$") and text.endswith("$") else text


def reasoning(problem: str, rng: random.Random) -> str:
    steps = [f"Step {i}: {rng.randint(2, 99)} + {rng.randint(2, 99)}, so we simplify." for i in range(4)]
    return f"Okay, so I need to solve this: {problem[:400]}\n\n" + "\n".join(steps) + "\nThat gives the result."


def completions(rows: list[dict], seed: int) -> list[list[str]]:
    """Per row, one completion per VARIANTS entry (in its order)."""
    rng = random.Random(seed)
    out = []
    for row in rows:
        right = written(row["answer"])
        wrong = perturb(right, rng)
        think = reasoning(row["problem"], rng)
        texts = []
        for ending, _ in VARIANTS.values():
            if ending is None:
                texts.append(think[: len(think) // 2])
            else:
                texts.append(f"{think}\n</think>\n\n{ending.format(right=right, wrong=wrong)}")
        out.append(texts)
    return out


def grade_openrs(seed: int, limit: int | None) -> tuple[list[dict], float]:
    """Items {benchmark, id, variant, gold, kind, completion, openrs} graded by `evaluate` under eval=paper,
    and the seconds it took."""
    from hydra import compose, initialize_config_dir
    from transformers import AutoTokenizer

    from openrs import CONF_DIR
    from openrs.data.benchmark import SHIPPED_NAMES, load_benchmark
    from openrs.evaluation.harness import Sample, evaluate
    from openrs.grading.paper_protocol import paper_gold
    from openrs.resolve.load import load_job

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        # No model loads here (a scripted generator): hardware=auto's refusal of the 1.5B model on a machine
        # without a GPU does not apply.
        job = load_job(compose("config", overrides=["output_dir=/tmp/lighteval-agreement", "eval=paper"]), trains=False)
    # One sample per variant on every benchmark.
    eval_cfg = job.eval.model_copy(update={"samples": len(VARIANTS), "samples_per_benchmark": {}})
    shared = Path(__file__).resolve().parents[2] / "shared/data/tokenizers/DeepSeek-R1-Distill-Qwen-1.5B"
    tokenizer = AutoTokenizer.from_pretrained(shared)
    rows = {name: load_benchmark(name)[:limit] for name in SHIPPED_NAMES}
    texts = {name: completions(rows[name], seed) for name in SHIPPED_NAMES}
    prompts_seen: list[str] = []
    order = iter(eval_cfg.benchmarks)  # evaluate asks for the benchmarks in this order

    def generate(prompts, n, temperature, top_p, max_new_tokens):
        prompts_seen.extend(prompts)
        name = next(order)
        return [[Sample(t, len(t) // 4, False) for t in row] for row in texts[name]] + [[]] * (
            len(prompts) - len(texts[name])
        )

    start = time.perf_counter()
    results = evaluate(generate, tokenizer, eval_cfg, job.prompt.text, job.reward.grading)
    seconds = time.perf_counter() - start
    # The paper's prompt: the template as the only turn, no system prompt.
    assert all(p.startswith("<｜begin▁of▁sentence｜><｜User｜>Solve the following math problem") for p in prompts_seen)
    items = []
    by_bench = defaultdict(list)
    for r in results:
        by_bench[r.benchmark].append(r)
    for name in SHIPPED_NAMES:
        for row, result, row_texts in zip(rows[name], by_bench[name][: len(rows[name])], texts[name], strict=True):
            gold = paper_gold(name, row)
            for variant, text, outcome in zip(VARIANTS, row_texts, result.outcomes, strict=True):
                items.append({"benchmark": name, "id": row["id"], "variant": variant, "gold": gold.text,
                              "kind": gold.kind, "answer": str(row["answer"]), "completion": text,
                              "openrs": outcome == "correct", "outcome": outcome})  # fmt: skip
    return items, seconds


def grade_lighteval(path_in: Path, path_out: Path) -> None:
    """The lighteval side (run under the lighteval venv): the paper's two metrics on every item."""
    import logging

    from lighteval.metrics.dynamic_metrics import (
        ExprExtractionConfig,
        LatexExtractionConfig,
        multilingual_extractive_match_metric,
    )
    from lighteval.tasks.requests import Doc
    from lighteval.utils.language import Language

    logging.disable(logging.WARNING)  # a warning per unextracted prediction

    def paper_metric(gold_target):
        # open-rs src/open_r1/evaluate.py: latex_gold_metric and expr_gold_metric differ only in gold_target.
        return multilingual_extractive_match_metric(
            language=Language.ENGLISH,
            fallback_mode="first_match",
            precision=5,
            gold_extraction_target=(gold_target,),
            pred_extraction_target=(ExprExtractionConfig(), LatexExtractionConfig(boxed_match_priority=0)),
            aggregation_function=max,
        )

    metrics = {"latex": paper_metric(LatexExtractionConfig()), "expr": paper_metric(ExprExtractionConfig())}
    start = time.perf_counter()
    with open(path_in) as f, open(path_out, "w") as out:
        for line in f:
            item = json.loads(line)
            doc = Doc(task_name="custom|agreement", query="", choices=[item["gold"]], gold_index=0)
            score = metrics[item["kind"]].sample_level_fn(
                golds=[item["gold"]], predictions=[item["completion"]], formatted_doc=doc
            )
            out.write(json.dumps({"lighteval": score == 1.0}) + "\n")
    print(f"lighteval graded in {time.perf_counter() - start:.0f} s", file=sys.stderr)


def _table(items: list[dict], column: str) -> None:
    print(f"| {column} | items | openrs correct % | lighteval correct % | agree % |")
    print("|---|---|---|---|---|")
    cells = defaultdict(list)
    for it in items:
        cells[it[column]].append(it)
    for value, its in cells.items():
        n, agree = len(its), sum(i["openrs"] == i["lighteval"] for i in its)
        ours, theirs = sum(i["openrs"] for i in its), sum(i["lighteval"] for i in its)
        print(f"| {value} | {n} | {100 * ours / n:.1f} | {100 * theirs / n:.1f} | {100 * agree / n:.2f} |")
    print()


def report(items: list[dict], examples: int) -> None:
    """Agreement by variant and by benchmark, then every disagreement class with examples."""
    _table(items, "variant")
    _table(items, "benchmark")
    agree = sum(i["openrs"] == i["lighteval"] for i in items)
    print(f"all: {agree} of {len(items)} verdicts agree ({100 * agree / len(items):.2f}%)")
    key = lambda i: (i["benchmark"], i["variant"], i["openrs"], i["lighteval"])  # noqa: E731
    classes = Counter(key(i) for i in items if i["openrs"] != i["lighteval"])
    print("\ndisagreements (benchmark, variant, openrs says correct, lighteval says correct): count")
    for cls, count in classes.most_common():
        intended = VARIANTS[cls[1]][1]
        print(f"- {cls}: {count} (the completion is {'right' if intended else 'not right'}: "
              f"{'openrs' if cls[2] == intended else 'lighteval'} agrees with that)")  # fmt: skip
        for i in [i for i in items if key(i) == cls][:examples]:
            gold = i["gold"] if len(i["gold"]) < 120 else "..." + i["gold"][-120:]
            print(f"    id {i['id']}: answer {i['answer']!r}, gold {gold!r}, openrs outcome {i['outcome']}, "
                  f"ending {i['completion'][-100:]!r}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lighteval-python", help="interpreter of a venv with lighteval installed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="first N problems of each benchmark (a quick check)")
    parser.add_argument("--examples", type=int, default=3, help="examples shown per disagreement class")
    parser.add_argument("--save", type=Path, help="write every item with both verdicts to this .jsonl")
    parser.add_argument("--grade-lighteval", nargs=2, type=Path, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.grade_lighteval:
        grade_lighteval(*args.grade_lighteval)
        return
    if not args.lighteval_python:
        parser.error("--lighteval-python is required (a venv with lighteval; see this file's docstring)")
    items, seconds = grade_openrs(args.seed, args.limit)
    print(f"openrs graded {len(items)} completions in {seconds:.0f} s (eval=paper, grading pool)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        path_in, path_out = Path(tmp) / "items.jsonl", Path(tmp) / "verdicts.jsonl"
        path_in.write_text("".join(json.dumps(i) + "\n" for i in items))
        subprocess.run([args.lighteval_python, __file__, "--grade-lighteval", str(path_in), str(path_out)], check=True)
        for it, line in zip(items, path_out.read_text().splitlines(), strict=True):
            it["lighteval"] = json.loads(line)["lighteval"]
    if args.save:
        args.save.write_text("".join(json.dumps(i) + "\n" for i in items))
    report(items, args.examples)


if __name__ == "__main__":
    main()
