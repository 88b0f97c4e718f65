"""Typed schema of the reward group and the parameters every reward set shares (conf/config.yaml's `reward:`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from openrs.config.schema import Schema

RewardName = Literal[
    "accuracy", "format", "format_tags", "tag_count", "cosine", "repetition_penalty", "soft_overlong", "language"
]


class CosineConfig(Schema):
    min_value_wrong: float
    """Reward of a wrong answer of length 0."""
    max_value_wrong: float
    """Reward of a wrong answer at max_len (paper: -0.5)."""
    min_value_correct: float
    """Reward of a correct answer at max_len."""
    max_value_correct: float
    """Reward of a correct answer of length 0."""
    max_len: int = Field(gt=0)
    """Length at which the cosine reaches its end value, in `length_unit`."""
    length_unit: Literal["tokens", "chars"]
    """tokens (clamped to max_len) or chars (the original code's unclamped behaviour, for reproduction only)."""


class RepetitionConfig(Schema):
    ngram_size: int = Field(gt=0)
    """n of the repeated n-grams counted, in words."""
    max_penalty: float = Field(le=0)
    """Reward when every n-gram repeats; 0 turns the penalty off."""


class SoftOverlongConfig(Schema):
    buffer: int = Field(gt=0)
    """Tokens before max_len over which the penalty ramps from 0 to -1."""
    max_len: int = Field(gt=0)
    """Completion cap in tokens."""


class LanguageConfig(Schema):
    expected: Literal["en", "zh"]
    """Language whose script share of the completion is rewarded."""


# Bounds of reward.grading.timeout_s, seconds. Below MIN the bound cuts off ordinary answers: self-grading
# Minerva-Math's gold answers on a 2-core machine (python -m openrs.grading, 2 workers) timed out 27% of them at
# 0.1 s, 4% at 0.5 s, 1.5% at 1 s, none at 2 s; at 1e-9 every answer and gold is skipped and training goes on with
# no accuracy reward. Above MAX one hung completion holds up a training step for over an hour; and the pool's
# wait cannot take more than 2^31 ms (about 24.8 days: OverflowError at the first reward).
MIN_GRADING_TIMEOUT_S = 1.0
MAX_GRADING_TIMEOUT_S = 3600.0


class GradingConfig(Schema):
    timeout_s: float = Field(ge=MIN_GRADING_TIMEOUT_S, le=MAX_GRADING_TIMEOUT_S)
    """Hard bound on grading one completion (parse + verify), seconds; one still grading then scores as wrong."""
    workers: int | None = Field(gt=0)
    """Grading worker processes; null = number of CPU cores."""
    memory_mb: int = Field(gt=0)
    """Address-space cap per grading worker, MiB; a runaway computation fails there as an error."""
    max_answer_chars: int = Field(gt=0)
    """Boxed answers longer than this are scored 0 (too_long) without parsing."""


class RewardConfig(Schema):
    funcs: list[RewardName] = Field(min_length=1)
    """Reward functions by registry name, summed with `weights`."""
    weights: list[float]
    """One weight per reward function."""
    cosine: CosineConfig
    repetition_penalty: RepetitionConfig
    soft_overlong: SoftOverlongConfig
    language: LanguageConfig
    grading: GradingConfig

    @model_validator(mode="after")
    def _weights_match(self) -> RewardConfig:
        if len(self.weights) != len(self.funcs):
            raise ValueError(
                f"reward.weights has {len(self.weights)} entries {self.weights} but reward.funcs has "
                f"{len(self.funcs)} {self.funcs}: give one weight per reward function"
            )
        return self
