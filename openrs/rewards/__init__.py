"""Reward registry: config name -> reward function with TRL's signature.

Every function is `f(prompts, completions, completion_ids=None, *, params, **dataset_columns)` and returns
one float (or None: skip) per completion; `build_rewards` binds the config's parameters and returns
functions named after their registry key, which is what TRL and MLflow log them as.
"""

from __future__ import annotations

from collections.abc import Callable

from openrs.config.reward import RewardConfig
from openrs.rewards.correctness import accuracy, cosine
from openrs.rewards.structure import format_reward, format_tags, tag_count
from openrs.rewards.text import language, repetition_penalty, soft_overlong

RewardFunc = Callable[..., list[float | None]]

REWARDS: dict[str, RewardFunc] = {
    "accuracy": accuracy,
    "format": format_reward,
    "format_tags": format_tags,
    "tag_count": tag_count,
    "cosine": cosine,
    "repetition_penalty": repetition_penalty,
    "soft_overlong": soft_overlong,
    "language": language,
}


def build_rewards(params: RewardConfig) -> list[RewardFunc]:
    """The functions of params.funcs, in order, with params bound; weights stay in params.weights."""

    def bind(name: str) -> RewardFunc:
        func = REWARDS[name]

        def reward(prompts, completions, completion_ids=None, **columns):
            return func(prompts, completions, completion_ids, params=params, **columns)

        reward.__name__ = reward.__qualname__ = name
        reward.__doc__ = func.__doc__
        return reward

    return [bind(name) for name in params.funcs]
