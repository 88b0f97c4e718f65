"""Rewards for the think/answer structure the paper's system prompt asks for.

`format` is the paper's rule (open-rs `rewards.py`, `format_reward`): R1-Distill's chat template opens `<think>`
in the prompt, so the completion only has to close its reasoning, once, within the cap. `format_tags` and
`tag_count` are open-r1's stricter think/answer-tag rules; they judge prefill + completion, where prefill is
what the chat template already opened (R1-Distill's `<think>\\n`): on the completion alone they could never fire
under that template."""

from __future__ import annotations

import re

from openrs.config.reward import RewardConfig
from openrs.rewards.inputs import prefill, texts

_THINK_TO_ANSWER = re.compile(r"</think>\s*<answer>")
# The paper's closing tag, with the newlines its rule counts.
CLOSE_THINK = "\n</think>\n"


def format_reward(prompts, completions, completion_ids=None, *, params: RewardConfig, **_) -> list[float]:
    """r = 1 if the completion contains `\\n</think>\\n` exactly once, else 0 (the paper's format reward).

    The completion is judged alone, as the paper's code judged the generated message."""
    return [1.0 if text.count(CLOSE_THINK) == 1 else 0.0 for text in texts(completions)]


def has_tags(text: str) -> bool:
    """Whether text matches `^<think>.*?</think>\\s*<answer>.*?</answer>\\s*$` (DOTALL), decided in
    linear time: that regex backtracks quadratically on completions full of repeated tags."""
    text = text.rstrip()
    if not (text.startswith("<think>") and text.endswith("</answer>")):
        return False
    # The earliest `</think> <answer>` leaves the most room before the closing tag.
    first = _THINK_TO_ANSWER.search(text, len("<think>"))
    return first is not None and first.end() <= len(text) - len("</answer>")


def format_tags(prompts, completions, completion_ids=None, *, params: RewardConfig, **_) -> list[float]:
    """r = 1 if prefill + completion is `<think>...</think> <answer>...</answer>` and nothing else, else 0
    (open-r1's strict format reward)."""
    return [1.0 if has_tags(prefill(p) + t) else 0.0 for p, t in zip(prompts, texts(completions), strict=True)]


def tag_count(prompts, completions, completion_ids=None, *, params: RewardConfig, **_) -> list[float]:
    """r = 0.25 for each of `<think>\\n`, `\\n</think>\\n`, `\\n<answer>\\n`, `\\n</answer>` present exactly
    once in prefill + completion (0 to 1): partial credit while the format is being learned."""
    tags = ("<think>\n", CLOSE_THINK, "\n<answer>\n", "\n</answer>")
    judged = [prefill(p) + t for p, t in zip(prompts, texts(completions), strict=True)]
    return [sum(0.25 for tag in tags if text.count(tag) == 1) for text in judged]
