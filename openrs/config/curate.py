"""Typed schema of a curation run (python -m openrs.curate, conf/curate/): its sources and steps."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from openrs.config.schema import Schema


class CurateSourceConfig(Schema):
    """One source of a curated training set (openrs.curate)."""

    name: str = Field(min_length=1, pattern=r"^[\w.-]+$")
    """Label of its rows (`source` column, the mix's counts, the manifest)."""
    path: str
    """`deepscaler_preview` (the DeepScaleR-Preview copy shipped with openrs), a local .jsonl/.jsonl.gz/.json/.parquet
    file, an output folder of an earlier curation (or one of its step files), or a hub dataset id."""
    split: str
    """Split of a hub dataset (local files have one, `train`)."""
    problem_column: str
    """Column holding the problem text."""
    answer_column: str | None
    """Column holding the final answer; null when the `boxed` step takes it from the solution."""
    solution_column: str | None
    """Column holding a worked solution (for `boxed`), or null."""


class BoxedStepConfig(Schema):
    step: Literal["boxed"]
    """Keep rows whose solution has a \\boxed{} answer; the last one becomes `answer` (rows of sources without
    solution_column pass unchanged)."""


class AnsweredStepConfig(Schema):
    step: Literal["answered"]
    """Drop rows whose problem has no letter nor digit, or whose answer is missing or empty."""


class DedupeStepConfig(Schema):
    step: Literal["dedupe"]
    """Keep the first row of each problem, exact or identical up to case, spacing, punctuation and LaTeX layout
    (openrs.curate.pipeline.normalized: operators and digits count)."""
    conflicting: Literal["drop", "keep_first"]
    """Duplicates whose answers differ: drop every row of the problem (its gold is in doubt), or keep the first."""


class DecontaminateStepConfig(Schema):
    step: Literal["decontaminate"]
    """Drop rows matching a benchmark problem exactly (up to case, spacing, punctuation and LaTeX layout, as
    `dedupe` compares) or by word n-grams."""
    benchmarks: list[str] = Field(min_length=1)
    """Benchmarks to protect (openrs.data.benchmark.load_benchmark names or files)."""
    ngram: int = Field(gt=0)
    """Words per n-gram."""
    threshold: float = Field(gt=0, le=1)
    """Share of a training problem's n-grams found in one benchmark problem that makes it a match."""


class DifficultyStepConfig(Schema):
    step: Literal["difficulty"]
    """Sample each problem `samples` times with the config's model, grade, and keep it when its pass rate
    falls in one of `bands`, labelling its `level` with the band's name."""
    sample: int | None = Field(gt=0)
    """Judge only this many rows, drawn with the seed (the rest are dropped); null judges every row."""
    samples: int = Field(gt=0)
    """Completions per problem; the pass rate is the share graded correct."""
    temperature: float = Field(ge=0)
    """Sampling temperature of the judge."""
    top_p: float = Field(gt=0, le=1)
    """Nucleus-sampling mass of the judge."""
    max_new_tokens: int = Field(gt=0)
    """Cap on the judge's generated tokens per completion."""
    batch_size: int = Field(gt=0)
    """Sequences per generate call of the transformers backend."""
    bands: dict[str, tuple[float, float]] = Field(min_length=1)
    """Level name -> [low, high] pass rate, both inclusive, e.g. {hard: [0.0, 0.75], easy: [1.0, 1.0]}."""

    @model_validator(mode="after")
    def _bands(self) -> DifficultyStepConfig:
        for name, (low, high) in self.bands.items():
            if not 0 <= low <= high <= 1:
                raise ValueError(f"bands.{name}=[{low}, {high}]: need 0 <= low <= high <= 1")
        return self


class MixCountConfig(Schema):
    source: str
    """A source's name."""
    level: str | None
    """A band of the difficulty step, or null for any level. Without a difficulty step, the level the rows of a
    curated source carry."""
    count: int | None = Field(gt=0)
    """Rows to draw; null takes every row of the source and level, in order."""


class MixStepConfig(Schema):
    step: Literal["mix"]
    """Draw the final set: `count` rows of each (source, level), with the seed, in the listed order."""
    counts: list[MixCountConfig] = Field(min_length=1)
    """One draw per (source, level), in order."""


CurateStep = Annotated[
    BoxedStepConfig | AnsweredStepConfig | DedupeStepConfig | DecontaminateStepConfig | DifficultyStepConfig
    | MixStepConfig,
    Field(discriminator="step"),
]


class CurateConfig(Schema):
    """A curation pipeline (python -m openrs.curate): sources read, then named steps in order."""

    sources: list[CurateSourceConfig] = Field(min_length=1)
    """Where the rows come from; each row keeps its source's name."""
    steps: list[CurateStep] = Field(min_length=1)
    """The steps in order, each one of those below by its `step` name; each writes its kept and removed rows."""

    @field_validator("steps")
    @classmethod
    def _in_order(cls, steps: list) -> list:
        order = [s.step for s in steps]
        if order.count("mix") > 1:
            raise ValueError("one 'mix' step at most, the last: it draws the final set; remove the others")
        if "mix" in order[:-1]:
            raise ValueError(f"'mix' must be the last step; move it after {order[-1]!r}")
        if "difficulty" in order:
            first = order.index("difficulty")
            if late := [s for s in ("boxed", "answered") if s in order[first:]]:
                raise ValueError(f"'difficulty' grades answers, so {late[0]!r} must come before it; move {late[0]!r} "
                                 "before 'difficulty'")  # fmt: skip
        bands = [set(s.bands) for s in steps if isinstance(s, DifficultyStepConfig)]
        if bands and order[-1] == "mix":  # without a difficulty step, levels are those of curated sources
            for j, c in enumerate(steps[-1].counts):
                if c.level is not None and c.level not in bands[-1]:
                    raise ValueError(f"mix counts[{j}].level={c.level!r} is no band of the difficulty step; use one "
                                     f"of {sorted(bands[-1])} or null")  # fmt: skip
        return steps

    @model_validator(mode="after")
    def _consistent(self) -> CurateConfig:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"curate.sources: names must differ, got {names}")
        if missing := [s.name for s in self.sources if s.answer_column is None and s.solution_column is None]:
            raise ValueError(f"sources {missing} name neither answer_column nor solution_column")
        no_answer = [s.name for s in self.sources if s.answer_column is None]
        if no_answer and "boxed" not in [s.step for s in self.steps]:
            raise ValueError(f"sources {no_answer} have answer_column=null: add a `boxed` step or name the column")
        for step in self.steps:
            if isinstance(step, MixStepConfig):
                unknown = sorted({c.source for c in step.counts} - set(names))
                if unknown:
                    raise ValueError(f"mix counts name sources {unknown}; the sources are {names}")
        return self
