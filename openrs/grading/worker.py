"""The grading worker: parse and verify one item at a time, on its own main thread.

Imported by the forkserver that GradingPool starts (and only there, or in tests): the import loads
math-verify and warms it up once, and every worker forked from that server starts warm.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import warnings
from decimal import Decimal
from functools import lru_cache
from multiprocessing.connection import Connection

from math_verify import LatexExtractionConfig, parse, verify
from math_verify.grader import sympy_expr_eq
from sympy import Basic, Derivative, Symbol
from sympy.core.relational import Relational

from openrs.base.processes import end_with_parent
from openrs.grading.answers import Gold, base_form, plain_text, prepare_gold, split_top_level
from openrs.grading.paper_protocol import PaperGold, paper_outcome

# LaTeX only: with math-verify's default plain-expression fallback, an answer whose LaTeX does not parse is
# read as the last number in it (`\\hbar \\omega(v+1/2)-\\frac{E_0^2 e^2}{2 m \\omega^2}` as 2, and so is
# that answer +1). Unparsed, an answer is compared as a string.
_LATEX = [LatexExtractionConfig()]

# With its own timeouts off (they need signal.alarm) math-verify warns on every call; the pool bounds time.
logging.getLogger("math_verify").setLevel(logging.ERROR)
# sympy's deprecation warnings about odd inputs would flood the training log from every worker.
warnings.simplefilter("ignore")


@lru_cache(maxsize=8192)
def _parse(latex: str) -> list:
    # As inline maths, not \\boxed{}: inside a box math-verify reads `\\frac{1}{3} E_{1}+\\frac{2}{3} E_{2}`
    # as its last number, 2/3, so any answer ending in 2/3 E_2 would count as correct.
    # math-verify appends the text it extracted as a string to compare when nothing else matches; after its
    # unit normalisation that text can be a stump (`\\lambda_{` of `\\lambda_{\\text {red}} / \\sqrt{2}`) that
    # any answer with the same start matches. Only the whole answer may stand in for its parse.
    found = [_frozen(x) for x in parse(f"${latex}$", extraction_config=_LATEX, parsing_timeout=None)]
    return [x for x in found if not isinstance(x, str)] or ([latex] if latex.strip() else [])


def _frozen(expr):
    # sympy evaluates d x / d t to 0 when x is a plain symbol, so `-\\frac{dx}{dt}=kx-a` would equal
    # `\\frac{dx}{dt}=kx-a`: each derivative becomes an opaque symbol.
    if not isinstance(expr, Basic):
        return expr
    try:
        return expr.replace(lambda e: isinstance(e, Derivative), lambda e: Symbol(str(e)))
    except Exception:  # noqa: BLE001 - sympy objects that cannot rebuild keep their form
        return expr


def _same_relation(g: Relational, p: Relational) -> bool:
    # Instead of math-verify, which also accepts two equations with the same solutions (`N=n` and `N=n+1`
    # both have none) and can spend minutes in sympy's solver on a differential equation: relations must
    # agree side for side (a=b, b=a), up to the sign of both sides.
    if str(g) == str(p):
        return True
    try:
        dg, dp = g.lhs - g.rhs, p.lhs - p.rhs
        if type(g) is type(p) and sympy_expr_eq(dg, dp, 6, 15):
            return True
        return g.reversed.func is p.func and sympy_expr_eq(dg, -dp, 6, 15)
    except Exception:  # noqa: BLE001 - sides that do not subtract (sets) only match as written
        return False


def _within(p, value: Decimal, places: int) -> bool:
    # To half a unit of the gold's last decimal (math-verify rounds to 6 decimals).
    if not (isinstance(p, Basic) and p.is_number):
        return False
    try:
        return abs(Decimal(str(p.evalf(places + 10))) - value) * 2 <= Decimal(10) ** -places
    except (ArithmeticError, ValueError, TypeError):  # complex, infinite
        return False


def _equal(g, p) -> bool:
    if isinstance(g, Relational) and isinstance(p, Relational):
        return _same_relation(g, p)
    return verify(g, p, timeout_seconds=None)


def outcome(gold: Gold, prediction: str | None) -> str:
    """Grade one prediction (the content of its box) against a prepared gold answer; gold goes first."""
    golds = [g for g in map(_parse, gold.candidates) if g]
    if not golds:
        return "unparseable_gold"
    if prediction is None:
        return "no_answer"
    if gold.text is not None and plain_text(prediction) == gold.text:
        return "correct"
    if gold.base is not None:
        return "correct" if base_form(prediction) == gold.base else "wrong"
    if len(split_top_level(prediction)) > gold.max_parts:
        return "wrong"
    if gold.scale is not None:
        prediction = f"\\frac{{{prediction}}}{{10^{{{gold.scale}}}}}"
    predicted = _parse(prediction)
    if not predicted:
        return "unparseable_prediction"
    if gold.places is not None:
        value = Decimal(gold.candidates[0])
        return "correct" if any(_within(p, value, gold.places) for p in predicted) else "wrong"
    return "correct" if any(_equal(g, p) for candidate in golds for g in candidate for p in predicted) else "wrong"


def serve(conn: Connection, memory_mb: int) -> None:
    """Worker loop: receive chunks of (key, gold, prediction), send (key, outcome) per item; None stops."""
    # It ignores SIGTERM (openrs.grading.shield): end with the forkserver, which ends with the job.
    end_with_parent(os.getppid(), signal.SIGKILL)
    # A runaway sympy computation must fail inside this worker, not take the node's memory.
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    conn.send("ready")
    while (chunk := conn.recv()) is not None:
        for key, gold, prediction in chunk:
            try:
                result = paper_outcome(gold, prediction) if isinstance(gold, PaperGold) else outcome(gold, prediction)
            except BaseException:  # noqa: BLE001 - MemoryError, RecursionError, sympy internals: scored as wrong
                result = "error"
            conn.send((key, result))


outcome(prepare_gold("\\frac{1}{2}"), "0.5")  # warm-up: the first parse builds the LaTeX parser
_parse.cache_clear()
