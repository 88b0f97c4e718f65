"""Rewards on the surface of the text: repetition, language drift, overlong completions."""

from __future__ import annotations

import re

from openrs.config.reward import RewardConfig
from openrs.rewards.inputs import lengths, texts


def repetition_penalty(prompts, completions, completion_ids=None, *, params: RewardConfig, **_) -> list[float]:
    """r = max_penalty * (1 - unique n-grams / n-grams), n-grams of whitespace-separated words.

    0 for completions shorter than n words; max_penalty (<= 0) when one n-gram fills the completion."""
    n, penalty = params.repetition_penalty.ngram_size, params.repetition_penalty.max_penalty
    rewards = []
    for text in texts(completions):
        words = text.lower().split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        rewards.append(penalty * (1 - len(set(grams)) / len(grams)) if grams else 0.0)
    return rewards


# Regex classes so that a megabyte completion is scanned in C; `sub` builds strings, not match lists.
_NON_LETTER = re.compile(r"[\W\d_]+")
_SCRIPT = {
    # Latin (with accents) and Greek: Greek letters are mathematics, not language drift.
    "en": re.compile(r"[A-Za-z\u00C0-\u024F\u0370-\u03FF\u1E00-\u1EFF]+"),
    "zh": re.compile(r"[\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF\U00020000-\U0002FA1F]+"),
}


def language_share(text: str, expected: str) -> float:
    """Share of the letters in text that belong to the expected language's script, 0 to 1.

    Digits, punctuation, symbols and LaTeX markup carry no language and are ignored; no letters -> 1."""
    letters = _NON_LETTER.sub("", text)
    if not letters:
        return 1.0
    return 1.0 - len(_SCRIPT[expected].sub("", letters)) / len(letters)


def language(prompts, completions, completion_ids=None, *, params: RewardConfig, **_) -> list[float]:
    """r = share of letters in the expected script (language.expected: en = Latin, zh = CJK), 0 to 1.

    The paper's models drifted into other languages after 150-200 steps; use this as a reward or a metric."""
    return [language_share(t, params.language.expected) for t in texts(completions)]


def soft_overlong(prompts, completions, completion_ids=None, *, params: RewardConfig, **_) -> list[float]:
    """DAPO's overlong punishment, L in tokens, L_max = max_len, B = buffer:
    0 if L <= L_max - B; (L_max - B - L) / B if L_max - B < L <= L_max (0 to -1); -1 beyond L_max."""
    cap, buffer = params.soft_overlong.max_len, params.soft_overlong.buffer
    rewards = []
    for length in lengths(completions, completion_ids):
        if length <= cap - buffer:
            rewards.append(0.0)
        elif length <= cap:
            rewards.append((cap - buffer - length) / buffer)
        else:
            rewards.append(-1.0)
    return rewards
