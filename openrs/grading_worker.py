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
from functools import lru_cache
from multiprocessing.connection import Connection

from math_verify import parse, verify

from openrs.answers import Gold, plain_text, prepare_gold
from openrs.launch import end_with_parent

# With its own timeouts off (they need signal.alarm) math-verify warns on every call; the pool bounds time.
logging.getLogger("math_verify").setLevel(logging.ERROR)
# sympy's deprecation warnings about odd inputs would flood the training log from every worker.
warnings.simplefilter("ignore")


@lru_cache(maxsize=8192)
def _parse(latex: str) -> list:
    # As inline maths, not \\boxed{}: inside a box math-verify reads `\\frac{1}{3} E_{1}+\\frac{2}{3} E_{2}`
    # as its last number, 2/3, so any answer ending in 2/3 E_2 would count as correct.
    return parse(f"${latex}$", parsing_timeout=None)


def verdict(gold: Gold, prediction: str | None) -> str:
    """Grade one prediction (the content of its box) against a prepared gold answer; gold goes first."""
    golds = [g for g in map(_parse, gold.candidates) if g]
    if not golds:
        return "unparseable_gold"
    if prediction is None:
        return "no_answer"
    if gold.text is not None and plain_text(prediction) == gold.text:
        return "correct"
    predicted = _parse(prediction)
    if not predicted:
        return "unparseable_prediction"
    return "correct" if any(verify(g, predicted, timeout_seconds=None) for g in golds) else "wrong"


def serve(conn: Connection, memory_mb: int) -> None:
    """Worker loop: receive chunks of (key, gold, prediction), send (key, outcome) per item; None stops."""
    # It ignores SIGTERM (openrs.grading_shield): end with the forkserver, which ends with the job.
    end_with_parent(os.getppid(), signal.SIGKILL)
    # A runaway sympy computation must fail inside this worker, not take the node's memory.
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while (chunk := conn.recv()) is not None:
        for key, gold, prediction in chunk:
            try:
                outcome = verdict(gold, prediction)
            except BaseException:  # noqa: BLE001 - MemoryError, RecursionError, sympy internals: all score None
                outcome = "error"
            conn.send((key, outcome))


verdict(prepare_gold("\\frac{1}{2}"), "0.5")  # warm-up: the first parse builds the LaTeX parser (~1 s)
_parse.cache_clear()
