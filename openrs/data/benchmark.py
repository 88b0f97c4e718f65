"""The evaluation benchmarks: the five shipped with openrs (data/benchmarks/, see ATTRIBUTION.md there), the
generated arithmetic split, local files and hub datasets, read as rows {id, problem, answer}."""

from __future__ import annotations

import json
from pathlib import Path

from openrs.base.errors import ConfigError
from openrs.config.job import GENERATED_PREFIX
from openrs.data.arithmetic import LEVELS, problems

SHIPPED = Path(__file__).resolve().parent / "benchmarks"
SHIPPED_NAMES = ("aime24", "amc23", "math500", "minerva_math", "olympiadbench")


def load_benchmark(spec: str) -> list[dict]:
    """Rows {id, problem, answer} of a benchmark: a shipped name (aime24, amc23, math500, minerva_math,
    olympiadbench), `arithmetic:easy` / `arithmetic:hard` (the generated held-out split), a local
    .jsonl/.parquet file, or a hub dataset id (its `test` split). Every row must have a non-empty
    `problem` and `answer`; the first that does not is named in the error. A row's `solution` is kept where
    it has one (the paper protocol grades MATH-500 and Minerva against it)."""
    if spec.startswith(GENERATED_PREFIX):
        level = spec.removeprefix(GENERATED_PREFIX)
        if level not in LEVELS:
            raise ConfigError(f"eval benchmark {spec!r}: generated benchmarks are arithmetic:easy and arithmetic:hard")
        return [{"id": i, **r} for i, r in enumerate(problems(level, "test", 10**6, seed=0))]
    path = SHIPPED / f"{spec}.jsonl" if spec in SHIPPED_NAMES else Path(spec)
    if path.suffix == ".jsonl":
        if not path.is_file():
            raise ConfigError(f"eval benchmark {spec!r}: no such file; use one of {SHIPPED_NAMES} or a path")
        rows = []
        for n, line in enumerate(path.read_text().splitlines(), 1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ConfigError(f"eval benchmark {path}:{n}: not a JSON object ({err.msg})") from None
        where = [f"{path}:{n}" for n in range(1, len(rows) + 1)]
    else:
        import datasets

        ds = (
            datasets.load_dataset("parquet", data_files=str(path), split="train")
            if path.suffix == ".parquet"
            else datasets.load_dataset(spec, split="test")
        )
        rows, where = [dict(r) for r in ds], [f"{spec} row {n}" for n in range(len(ds))]
    for row, place in zip(rows, where, strict=True):
        if not isinstance(row, dict) or not str(row.get("problem") or "").strip():
            raise ConfigError(f"eval benchmark {place}: no `problem` text; every row needs `problem` and `answer`")
        if row.get("answer") is None or not str(row["answer"]).strip():
            raise ConfigError(f"eval benchmark {place}: empty `answer`; fix or remove that row")
    return [{"id": r.get("id", r.get("unique_id", i)), "problem": r["problem"], "answer": r["answer"],
             **({"solution": r["solution"]} if r.get("solution") else {})} for i, r in enumerate(rows)]  # fmt: skip
