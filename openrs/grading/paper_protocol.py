"""The Open-RS paper's evaluation protocol (`eval.protocol: paper`): its prompt, its gold answers, its grading.

Reproduces the lighteval custom tasks of open-rs (`src/open_r1/evaluate.py`, run with lighteval at commit
ed08481 and `--use-chat-template`): no system prompt; the user turn is lighteval's MATH_QUERY_TEMPLATE around
the problem; the answer is extracted from the whole completion, `\\boxed{}` first, then "final answer is" and
other LaTeX, then plain expressions; gold answers are extracted with LaTeX (MATH-500, Minerva, OlympiadBench)
or expression (AIME24, AMC23) rules and compared at 5 decimals. The extraction rules are math-verify's (the
library lighteval's own extraction code became), configured as lighteval@ed08481 was; their agreement with
lighteval itself is measured by benchmarks/lighteval_agreement.py.

Imported in the training process (prompts, gold selection); only `paper_outcome` needs math-verify, and it
runs in the grading workers (openrs.grading.worker), where math-verify is loaded already.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

# lighteval's MATH_QUERY_TEMPLATE as open-rs src/open_r1/evaluate.py defines it, verbatim.
MATH_QUERY_TEMPLATE = """
Solve the following math problem efficiently and clearly.  The last line of your response should be of the following format: 'Therefore, the final answer is: $\\boxed{{ANSWER}}$. I hope it is correct' (without quotes) where ANSWER is just the final number or expression that solves the problem. Think step by step before answering.

{Question}
""".strip()  # noqa: E501 - the paper's prompt, kept byte for byte

GoldKind = Literal["latex", "expr", "any"]

# Benchmark -> (row column, extraction) of the paper's tasks: MATH-500 and Minerva grade against the full
# worked `solution` (its answer is extracted from it: a `\boxed{}`, or "final answer is ..."), the others
# against `answer`. A benchmark the paper did not run uses `answer` with both extractions (math-verify's
# default for a gold answer).
PAPER_GOLDS: dict[str, tuple[str, GoldKind]] = {
    "aime24": ("answer", "expr"),
    "amc23": ("answer", "expr"),
    "math500": ("solution", "latex"),
    "minerva_math": ("solution", "latex"),
    "olympiadbench": ("answer", "latex"),
}
FLOAT_ROUNDING = 5  # the tasks' `precision=5`: numbers are compared rounded to 5 decimals


@dataclass(frozen=True)
class PaperGold:
    """A gold answer graded the paper's way: `text` as the dataset stores it, extracted with `kind` rules.

    A grading item (openrs.grading.pool.GradingPool) of this kind carries the whole completion as its prediction."""

    text: str
    kind: GoldKind


def paper_prompt(tokenizer, problem: str) -> str:
    """The problem in MATH_QUERY_TEMPLATE as the only (user) turn of the model's chat template, ending with
    its generation prefill; no system prompt."""
    messages = [{"role": "user", "content": MATH_QUERY_TEMPLATE.format(Question=problem)}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def paper_gold(benchmark: str, row: dict) -> PaperGold:
    """The gold answer the paper's task for `benchmark` grades against, from a row of
    openrs.data.benchmark.load_benchmark (which keeps `solution` where the benchmark has one)."""
    column, kind = PAPER_GOLDS.get(benchmark, ("answer", "any"))
    return PaperGold(str(row[column]), kind)


@cache
def _configs():
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    # lighteval@ed08481 put a gold's \\boxed{} after "final answer is" at priority 55 (math-verify: 50). Its
    # `equations=True` normalisation is the parser's default behaviour in the installed latex2sympy2.
    latex = LatexExtractionConfig(boxed_match_priority=55)
    golds = {"latex": [latex], "expr": [ExprExtractionConfig()], "any": [latex, ExprExtractionConfig()]}
    # "Match boxed first before trying other regexes" (open-rs evaluate.py).
    prediction = [ExprExtractionConfig(), LatexExtractionConfig(boxed_match_priority=0)]
    return golds, prediction


def paper_outcome(gold: PaperGold, completion: str) -> str:
    """Grade a whole completion the paper's way: correct, wrong, no_answer (nothing extractable) or
    unparseable_prediction (only unparsed text extracted, and it did not equal the gold text).

    As in lighteval, each side keeps its first matched string besides the parsed value
    (fallback_mode first_match), a gold that does not parse is compared as its raw text, and any
    gold/prediction pair that matches makes the completion correct."""
    from math_verify import parse, verify

    golds, prediction = _configs()
    # The pool bounds each item's time in its own process; math-verify's signal-based timeouts stay off.
    gold_values = parse(gold.text, golds[gold.kind], parsing_timeout=None) or [gold.text]
    predicted = parse(completion, prediction, parsing_timeout=None)
    if not predicted:
        return "no_answer"
    if verify(gold_values, predicted, float_rounding=FLOAT_ROUNDING, timeout_seconds=None):
        return "correct"
    return "unparseable_prediction" if all(isinstance(p, str) for p in predicted) else "wrong"
