"""Benchmark evaluation: k samples per problem, graded like the rewards, summarised with intervals.

One interface for generation (`Generator`: transformers on a CPU, vLLM on GPUs), the prompts of training
(openrs.data.dataset.chat_prompt) or of the paper (openrs.grading.paper_protocol, `eval.protocol: paper`), the
grading engine of the rewards (openrs.grading), and the estimators of openrs.evaluation.estimators. Used by
`python -m openrs.evaluation` and by the step-wise callback during training.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from openrs.config.job import EvalConfig
from openrs.config.reward import GradingConfig
from openrs.data.benchmark import load_benchmark
from openrs.data.dataset import chat_prompt
from openrs.evaluation.estimators import bootstrap_interval, majority_correct, pass_at_k
from openrs.grading.answers import prediction_of, prepare_gold
from openrs.grading.paper_protocol import paper_gold, paper_prompt


@dataclass
class Sample:
    text: str
    tokens: int
    truncated: bool
    """Stopped by max_new_tokens before the end-of-sequence token."""


class Generator(Protocol):
    def __call__(
        self, prompts: Sequence[str], n: int, temperature: float, top_p: float, max_new_tokens: int
    ) -> list[list[Sample]]:
        """n samples for each prompt (greedy when temperature is 0)."""
        ...


@dataclass
class ProblemResult:
    """One problem's k samples: what each answered, whether it was right, how long it was."""

    benchmark: str
    id: str | int
    answer: str
    correct: int = 0
    samples: int = 0
    predictions: list[str | None] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    """Grading outcome per sample (openrs.grading.pool.SCORES keys)."""
    lengths: list[int] = field(default_factory=list)
    """Completion length per sample, tokens."""
    truncated: int = 0
    non_english: float = 0.0
    """Mean share of the samples' letters outside the Latin script (the paper's language drift), 0 to 1."""


def evaluate(
    generate: Generator, tokenizer, cfg: EvalConfig, system: str, grading: GradingConfig
) -> list[ProblemResult]:
    """Generate cfg.samples_for(benchmark) samples for every problem of every benchmark and grade them, with
    the prompts and grading of cfg.protocol (`system` is the openrs protocol's system prompt)."""
    from openrs.grading.pool import shared_pool
    from openrs.rewards.text import language_share

    pool = shared_pool(grading.workers, grading.timeout_s, grading.memory_mb, grading.max_answer_chars)
    results = []
    for name in cfg.benchmarks:
        k = cfg.samples_for(name)
        rows = load_benchmark(name)
        print(f"eval {name}: {len(rows)} problems x {k} samples", file=sys.stderr, flush=True)
        paper = cfg.protocol == "paper"
        prompts = [paper_prompt(tokenizer, r["problem"]) if paper else chat_prompt(tokenizer, system, r["problem"])
                   for r in rows]  # fmt: skip
        outputs = generate(prompts, k, cfg.temperature, cfg.top_p, cfg.max_new_tokens)
        golds = [prepare_gold(r["answer"]) for r in rows]
        flat = [(r, g, s) for r, g, samples in zip(rows, golds, outputs, strict=True) for s in samples]
        boxed = [prediction_of(s.text, g) for _, g, s in flat]
        # The paper's extraction reads the whole completion; the last box still votes in maj@k.
        items = [(paper_gold(name, r), s.text) if paper else (g, b) for (r, g, s), b in zip(flat, boxed, strict=True)]
        outcomes = iter(pool.grade(items))
        predictions = iter(boxed)
        for row, samples in zip(rows, outputs, strict=True):
            r = ProblemResult(name, row["id"], str(row["answer"]), samples=len(samples))
            for s in samples:
                r.outcomes.append(next(outcomes))
                r.predictions.append(next(predictions))
                r.lengths.append(s.tokens)
            r.correct = r.outcomes.count("correct")
            r.truncated = sum(s.truncated for s in samples)
            r.non_english = sum(1 - language_share(s.text, "en") for s in samples) / max(len(samples), 1)
            results.append(r)
    return results


def summarize(results: Sequence[ProblemResult]) -> list[dict]:
    """One row per benchmark, then `average` (the paper's Avg: mean of the benchmarks' pass@1): problems,
    k, pass@1 with its 95% bootstrap interval, pass@k, maj@k, truncated share, mean completion tokens,
    non-English share.
    Scores are fractions in [0, 1]."""
    by_bench: dict[str, list[ProblemResult]] = {}
    for r in results:
        by_bench.setdefault(r.benchmark, []).append(r)
    rows, groups = [], []
    for name, rs in by_bench.items():
        rates = [r.correct / r.samples for r in rs]
        groups.append(rates)
        low, high = bootstrap_interval([rates])
        samples = sum(r.samples for r in rs)
        rows.append({
            "benchmark": name, "problems": len(rs), "k": min(r.samples for r in rs),
            "pass@1": sum(rates) / len(rates), "low": low, "high": high,
            "pass@k": sum(pass_at_k(r.samples, r.correct, r.samples) for r in rs) / len(rs),
            "maj@k": sum(majority_correct(r.predictions, [o == "correct" for o in r.outcomes]) for r in rs) / len(rs),
            "truncated": sum(r.truncated for r in rs) / samples,
            "mean_tokens": sum(sum(r.lengths) for r in rs) / samples,
            "non_english": sum(r.non_english for r in rs) / len(rs),
        })  # fmt: skip
    if len(rows) > 1:
        low, high = bootstrap_interval(groups)
        rows.append({"benchmark": "average", "problems": sum(r["problems"] for r in rows), "k": None,
                     "pass@1": sum(r["pass@1"] for r in rows) / len(rows), "low": low, "high": high,
                     "non_english": sum(r["non_english"] for r in rows) / len(rows)})  # fmt: skip
    return rows


PROTOCOLS = {
    "openrs": "the training prompt; the last \\boxed{} graded by openrs's rules",
    "paper": "the paper's lighteval protocol: no system prompt, MATH_QUERY_TEMPLATE, answer extracted from the whole "
    "completion",
}


def table(summary: Sequence[dict], label: str, protocol: str | None = None) -> str:
    """Markdown in the layout of the paper's Table 1: benchmarks as columns, pass@1 in % with the 95%
    interval, then the details per benchmark, then the protocol (eval.protocol) when given."""
    head = "| model | " + " | ".join(r["benchmark"] for r in summary) + " |"
    cells = " | ".join(f"{100 * r['pass@1']:.1f} [{100 * r['low']:.1f}, {100 * r['high']:.1f}]" for r in summary)
    lines = [head, "|---" * (len(summary) + 1) + "|", f"| {label} | {cells} |", ""]
    lines += ["| benchmark | problems | k | pass@1 % | 95% interval | pass@k % | maj@k % | truncated % | tokens |",
              "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in summary:
        if r["k"] is None:
            continue
        lines.append(
            f"| {r['benchmark']} | {r['problems']} | {r['k']} | {100 * r['pass@1']:.1f} | "
            f"{100 * r['low']:.1f} to {100 * r['high']:.1f} | {100 * r['pass@k']:.1f} | {100 * r['maj@k']:.1f} | "
            f"{100 * r['truncated']:.1f} | {r['mean_tokens']:.0f} |"
        )
    if protocol is not None:
        lines += ["", f"Protocol: `{protocol}` ({PROTOCOLS[protocol]})."]
    return "\n".join(lines) + "\n"


def write_report(results: Sequence[ProblemResult], out_dir: Path, label: str, protocol: str | None = None) -> str:
    """Write per_problem.jsonl (one ProblemResult per line), summary.csv (one row per benchmark, with the
    model label and the protocol, so files of several runs concatenate) and report.md into out_dir; return
    the table. protocol: the eval.protocol the results were graded with (named in both files)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "per_problem.jsonl", "w") as f:
        for r in results:
            f.write(json.dumps(asdict(r)) + "\n")
    summary = summarize(results)
    with open(out_dir / "summary.csv", "w", newline="") as f:
        fields = ["model", "benchmark", "problems", "k", "pass@1", "low", "high", "pass@k", "maj@k", "truncated",
                  "mean_tokens", "non_english", "protocol"]  # fmt: skip
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows({"model": label, "protocol": protocol, **r} for r in summary)
    text = table(summary, label, protocol)
    (out_dir / "report.md").write_text(text)
    return text
