"""The paper's numbers: Table 1 and the open-rs repository's per-checkpoint lighteval logs (open_rs_paper.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).with_name("open_rs_paper.json")


@dataclass(frozen=True)
class Paper:
    base_model: str
    """The hub id every paper run started from."""
    problems: dict[str, int]
    """Benchmark (openrs's names) -> problems the paper evaluated."""
    rows: dict[str, dict[str, float]]
    """Table 1: model -> benchmark -> pass@1 (fraction); `average` is the paper's Avg column."""
    base_row: str
    """The Table 1 row of the base model."""
    rows_of: dict[str, str]
    """Experiment (exp1, exp2, exp3) -> its Table 1 row (Open-RS1/2/3)."""
    chosen_step: dict[str, int]
    """Experiment -> the step the paper kept for Table 1."""
    curves: dict[str, dict[int, dict[str, float]]]
    """Experiment -> step -> benchmark -> pass@1 (fraction, one sample per problem) from the open-rs logs."""


@cache
def paper() -> Paper:
    data = json.loads(DATA.read_text())
    rows = {model: {b: v / 100 for b, v in scores.items()} for model, scores in data["table1_percent"].items()}
    experiments = data["experiments"]
    return Paper(
        base_model=data["base_model"],
        problems=data["problems"],
        rows=rows,
        base_row=data["base_row"],
        rows_of={exp: e["row"] for exp, e in experiments.items()},
        chosen_step={exp: e["step"] for exp, e in experiments.items()},
        curves={exp: {int(s): v for s, v in e["checkpoints"].items()} for exp, e in experiments.items()},
    )
