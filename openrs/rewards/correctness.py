"""Rewards that grade the final answer against the gold `answer` column."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from openrs.config.reward import RewardConfig
from openrs.grading.answers import prediction_of, prepare_gold
from openrs.grading.pool import GradingPool, shared_pool
from openrs.rewards.inputs import lengths, texts


def pool_for(params: RewardConfig) -> GradingPool:
    g = params.grading
    return shared_pool(g.workers, g.timeout_s, g.memory_mb, g.max_answer_chars)


def grade(
    completions: Sequence[Any], answer: Sequence[Any], params: RewardConfig, log_metric=None
) -> list[float | None]:
    """1.0 / 0.0 per completion by math-verify (gold first) on its last \\boxed{} answer; an answer whose
    grading times out or crashes its worker is 0.0; None only when the gold answer cannot be parsed. Counts
    per outcome and grading seconds go to TRL's `log_metric` when given (as grading/timeout,
    grading/unparseable_gold, grading/seconds, ...)."""
    golds = [prepare_gold(a) for a in answer]
    items = [(g, prediction_of(t, g)) for g, t in zip(golds, texts(completions), strict=True)]
    pool = pool_for(params)
    scores = pool.scores(items)
    if log_metric is not None:
        for name, value in pool.take_metrics().items():
            log_metric(name, value)
    return scores


def accuracy(
    prompts, completions, completion_ids=None, *, params: RewardConfig, answer, log_metric=None, **_
) -> list[float | None]:
    """r = 1 if the last \\boxed{} answer equals the gold `answer` (math-verify, gold first), else 0.

    0 when grading the answer times out (a policy must not be paid for answers the grader cannot finish);
    None (skipped by TRL) only when the gold answer is unparseable."""
    return grade(completions, answer, params, log_metric)


def cosine(
    prompts, completions, completion_ids=None, *, params: RewardConfig, answer, log_metric=None, **_
) -> list[float | None]:
    """Length-scaled accuracy (paper Sec. 2.2, open-r1's formula).

    p = min(L / max_len, 1) with L in tokens (length_unit tokens) or p = L_chars / max_len unclamped
    (length_unit chars, the original code's behaviour); c = cos(pi * p).
    correct: r = min_value_correct + (max_value_correct - min_value_correct) * (1 + c) / 2  (1.0 -> 0.5)
    wrong:   r = max_value_wrong + (min_value_wrong - max_value_wrong) * (1 + c) / 2
    With the paper's values a wrong answer scores 0.0 at length 0 and -0.5 at max_len. None where
    accuracy is None."""
    c = params.cosine
    correct = grade(completions, answer, params, log_metric)
    rewards: list[float | None] = []
    for ok, length in zip(correct, lengths(completions, completion_ids, c.length_unit), strict=True):
        if ok is None:
            rewards.append(None)
            continue
        progress = length / c.max_len
        if c.length_unit == "tokens":
            progress = min(progress, 1.0)
        low, high = (c.min_value_correct, c.max_value_correct) if ok else (c.max_value_wrong, c.min_value_wrong)
        rewards.append(low + 0.5 * (high - low) * (1.0 + math.cos(math.pi * progress)))
    return rewards
