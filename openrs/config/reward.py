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


class GradingConfig(Schema):
    timeout_s: float = Field(gt=0)
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
