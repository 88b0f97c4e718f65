"""Gold answers changed so that grading must reject them, and rewritten so that it must accept them.

Used by benchmarks/grading_mutations.py (every gold answer of the five benchmarks and a DeepScaleR sample)
and tests/grading/test_mutations.py (a fixed subset). A mutation graded correct is a false positive: a
wrong answer the policy would be paid for. A rewrite not graded correct is a false negative.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from openrs.grading.answers import prediction_of, prepare_gold, split_top_level
from openrs.grading.pool import SCORES, GradingPool

EVAL_DATA = Path(__file__).resolve().parents[1] / "openrs" / "data" / "benchmarks"
DEEPSCALER = Path(__file__).resolve().parents[1] / "openrs" / "data" / "training" / "deepscaler_preview_40315.jsonl.gz"
BENCHMARKS = ("aime24", "amc23", "math500", "minerva_math", "olympiadbench")

_UNIT_END = re.compile(r"(?:\\(?:text|mathrm|mbox|textbf)\{[^{}]*\}|\^\{?\\circ\}?)(?:\^\{?\d\}?)?$")
_DECIMAL = re.compile(r"-?\d+\.\d+")
_FRACTION = re.compile(r"(-?)\\d?frac\{(\d+)\}\{(\d+)\}")
_ZERO_START = re.compile(r"[+-]?0+(?:\.0*)?(?![\d.])")  # `0`, `-0`, `0 \leq x`, `0, -1`


def written(gold: object) -> str:
    """The gold answer as a model would copy it: AMC23's 27.0 as 27, OlympiadBench's outer $ removed."""
    if isinstance(gold, float) and gold.is_integer():
        return str(int(gold))
    return str(gold).strip().strip("$").strip()


def _last_digit(s: str) -> str | None:
    # Not in a trailing unit: grading ignores units by design (`15\mbox{ cm}^3` passes for `15\mbox{ cm}^2`).
    unit = _UNIT_END.search(s)
    for i in range((unit.start() if unit else len(s)) - 1, -1, -1):
        if s[i].isdigit():
            return s[:i] + str((int(s[i]) + 1) % 10) + s[i + 1 :]
    return None


def _plus_one(s: str) -> str | None:
    return None if "\\infty" in s else s + "+1"  # infinity plus one is infinity


def _sign_flip(s: str) -> str | None:
    # -0 is 0, also as a set or matrix of zeros; -A = 0 is A = 0.
    if "\\pm" in s or "\\mp" in s or _ZERO_START.match(s) or _all_zero(s) or _one_term_is_zero(s):
        return None
    return s[1:] if s.startswith("-") else "-" + s


def _all_zero(s: str) -> bool:
    rest = re.sub(r"\\(?:begin|end)\{[^{}]*\}|\\[A-Za-z]+", "", s)  # `\{0\}`, `\begin{pmatrix} 0 \\ 0 \end{pmatrix}`
    return not re.search(r"[A-Za-z1-9]", rest)


def _one_term_is_zero(s: str) -> bool:
    lhs, _, rhs = s.replace(" ", "").partition("=")
    depth = 0
    for i, c in enumerate(lhs):
        depth += (c in "([{") - (c in ")]}")
        if c in "+-" and i and depth == 0:
            return False
    return rhs == "0"


def _after_percent(s: str) -> str | None:
    if "\\infty" in s:
        return None
    return s + "+1" if s.endswith("%") else s + "\\%+1"


def _after_dollar(s: str) -> str | None:
    return None if "\\infty" in s else f"${s}$+1"


def _after_unit(s: str) -> str | None:
    if "\\infty" in s:
        return None
    return s + "+1" if _UNIT_END.search(s) else s + "\\text{ cm}+1"


def _second_value(s: str) -> str | None:
    if len(split_top_level(s)) != 1:
        return None
    other = _last_digit(s) or _plus_one(s)
    return None if other is None else f"{s}, {other}"


def _list_element(s: str) -> str | None:
    parts = split_top_level(s.replace("$", ""))
    if len(parts) < 2:
        return None
    changed = _last_digit(parts[0]) or _plus_one(parts[0])
    return None if changed is None else ", ".join([changed, *parts[1:]])


def _frac(s: str) -> str | None:
    if "\\dfrac" in s:
        return s.replace("\\dfrac", "\\frac")
    return s.replace("\\frac", "\\dfrac") if "\\frac" in s else None


def _spacing(s: str) -> str | None:
    if " " in s:  # drop spaces, except beside a letter (`\cdot x`, `a x`) or `$`
        out = re.sub(r"(?<![A-Za-z$])\s+(?![A-Za-z$])", "", s)  # `$b$ is`, `73\% and` are prose
    else:
        out = re.sub(r"\s*([=+<>])\s*", r" \1 ", s).strip()  # not commas: `58,500` is one number
    return out if out != s else None


def _decimal_fraction(s: str) -> str | None:
    if _DECIMAL.fullmatch(s):
        f = Fraction(s)
        return f"{'-' if f < 0 else ''}\\frac{{{abs(f.numerator)}}}{{{f.denominator}}}" if f.denominator > 1 else None
    if m := _FRACTION.fullmatch(s):
        sign, p, q = m.group(1), int(m.group(2)), int(m.group(3))
        d = q
        for prime in (2, 5):
            while d % prime == 0:
                d //= prime
        if d == 1 and q > 1 and p % q:
            return sign + str(Decimal(p) / Decimal(q))  # exact: q has no prime factor but 2 and 5
    return None


# Each takes the gold as `written` and returns the boxed answer, or None where it does not apply.
MUTATIONS: dict[str, Callable[[str], str | None]] = {
    "plus_one": _plus_one,
    "last_digit": _last_digit,
    "sign_flip": _sign_flip,
    "after_percent": _after_percent,
    "after_dollar": _after_dollar,
    "after_unit": _after_unit,
    "second_value": _second_value,
    "list_element": _list_element,
}
REWRITES: dict[str, Callable[[str], str | None]] = {
    "gold": lambda s: s,
    "frac_dfrac": _frac,
    "spacing": _spacing,
    "decimal_fraction": _decimal_fraction,
    "trailing_period": lambda s: s + ".",
    "dollars": lambda s: f"${s}$",
}


@dataclass(frozen=True)
class Case:
    """One graded completion: `expect` is 1.0 for a rewrite (must be correct), 0.0 for a mutation."""

    source: str
    row: int
    gold: object
    name: str
    expect: float
    completion: str


def cases_for(source: str, golds: Iterable[object]) -> list[Case]:
    """Every applicable mutation and rewrite of each gold answer, as `... \\boxed{ANSWER}.` completions."""
    out = []
    for row, gold in enumerate(golds):
        s = written(gold)
        for expect, table in ((0.0, MUTATIONS), (1.0, REWRITES)):
            for name, make in table.items():
                answer = make(s)
                if answer is not None:
                    out.append(Case(source, row, gold, name, expect, f"So the final answer is \\boxed{{{answer}}}."))
    return out


def benchmark_golds() -> dict[str, list[object]]:
    """Gold answers of the five shipped benchmarks, by benchmark name."""
    return {
        name: [json.loads(line)["answer"] for line in (EVAL_DATA / f"{name}.jsonl").open() if line.strip()]
        for name in BENCHMARKS
    }


def deepscaler_golds(n: int, seed: int = 0) -> list[object]:
    """The first n gold answers of the shipped DeepScaleR copy (40,315 rows) in a fixed shuffled order (a
    smaller sample is the start of a larger one)."""
    with gzip.open(DEEPSCALER, "rt") as f:
        answers = [json.loads(line)["answer"] for line in f if line.strip()]
    order = list(range(len(answers)))
    random.Random(seed).shuffle(order)
    return [answers[i] for i in order[:n]]


def grade_cases(pool: GradingPool, cases: list[Case], batch: int = 1024) -> list[str]:
    """Outcome (a key of grading.SCORES) of each case, graded like the accuracy reward."""
    outcomes = []
    for start in range(0, len(cases), batch):
        chunk = cases[start : start + batch]
        golds = [prepare_gold(c.gold) for c in chunk]
        outcomes += pool.grade([(g, prediction_of(c.completion, g)) for g, c in zip(golds, chunk, strict=True)])
    return outcomes


def failures(cases: list[Case], outcomes: list[str]) -> tuple[list[tuple[Case, str]], list[tuple[Case, str]]]:
    """(false positives, false negatives): mutations not graded 0, rewrites not graded 1. A case whose gold
    is unparseable (None, skipped: a data problem such as an empty answer) is neither; `unparseable` lists
    them, to check that their golds really are."""
    graded = [(c, o) for c, o in zip(cases, outcomes, strict=True) if o != "unparseable_gold"]
    fp = [(c, o) for c, o in graded if c.expect == 0.0 and SCORES[o] != 0.0]
    fn = [(c, o) for c, o in graded if c.expect == 1.0 and SCORES[o] != 1.0]
    return fp, fn


def unparseable(cases: list[Case], outcomes: list[str]) -> list[object]:
    """The distinct gold answers graded unparseable_gold (their cases score None)."""
    return list(dict.fromkeys(c.gold for c, o in zip(cases, outcomes, strict=True) if o == "unparseable_gold"))
