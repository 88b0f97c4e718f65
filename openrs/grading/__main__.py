"""Grade every row's own gold answer against itself, to find the answers grading cannot handle.

    python -m openrs.grading data/eval/*.jsonl [--answer-column answer] [--timeout-s 5]

Each gold answer is written into a completion as `\\boxed{ANSWER}` and graded by the same path as
training rewards (openrs.grading.answers rules + math-verify in the grading pool). A row that does not come out
`correct` is listed with its outcome; exit code 1 when any row fails, 2 (one line naming the file, nothing graded)
when a file cannot be read, holds no rows or has a row without the answer column.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

from pydantic import ValidationError

from openrs.base.errors import ConfigError
from openrs.config.reward import GradingConfig
from openrs.data.files import numbered_rows, quoted_keys
from openrs.grading.answers import prediction_of, prepare_gold
from openrs.grading.pool import GradingPool
from openrs.resolve.load import default_grading

ID_KEYS = ("id", "unique_id", "idx", "index")


def read_rows(path: Path, answer_column: str) -> list[dict]:
    """Rows of a data file (.jsonl, .jsonl.gz, .json or .parquet, as openrs.data.files reads them). ConfigError
    naming the file (and line) when it cannot be read, holds no rows, or a row has no answer_column."""
    rows = []
    for where, row in numbered_rows(path):
        if not isinstance(row, dict) or answer_column not in row:
            has = f"columns {quoted_keys(row)}" if isinstance(row, dict) else f"a {type(row).__name__}, not an object"
            raise ConfigError(f"{where}: no {answer_column!r} column (the row has {has}): fix the row, or name the "
                              "column with --answer-column")  # fmt: skip
        rows.append(row)
    if not rows:
        raise ConfigError(f"{path}: no rows (the file is empty or blank): give a file of rows with an "
                          f"{answer_column!r} column")  # fmt: skip
    return rows


def row_id(row: dict, position: int) -> object:
    return next((row[k] for k in ID_KEYS if k in row), position)


def check_file(path: Path, rows: list[dict], pool: GradingPool, answer_column: str, batch: int = 512) -> list[tuple]:
    """(row id, gold answer, outcome) for each row of the file whose gold answer is not graded correct."""
    failures = []
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        golds = [prepare_gold(r[answer_column]) for r in chunk]
        items = [(g, prediction_of(f"\\boxed{{{r[answer_column]}}}", g)) for g, r in zip(golds, chunk, strict=True)]
        for offset, (row, outcome) in enumerate(zip(chunk, pool.grade(items), strict=True)):
            if outcome != "correct":
                failures.append((row_id(row, start + offset), row[answer_column], outcome))
        print(f"\r{path.name}: {min(start + batch, len(rows))}/{len(rows)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="openrs-gold-check", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help=".jsonl (.jsonl.gz, .json, .parquet) files of rows")
    parser.add_argument("--answer-column", default="answer")
    parser.add_argument("--timeout-s", type=float, help="hard bound per answer, seconds (default: conf/)")
    parser.add_argument("--workers", type=int, help="grading processes (default: conf/, CPU cores)")
    args = parser.parse_args(argv)
    try:  # every file read and checked before the table starts: a bad one is one line, exit 2
        files = [(path, read_rows(path, args.answer_column)) for path in args.files]
    except ConfigError as err:
        print(f"openrs: {err}", file=sys.stderr)
        return 2
    g = default_grading()
    given = {"timeout_s": args.timeout_s, "workers": args.workers}
    try:  # within the bounds of reward.grading's schema
        g = GradingConfig.model_validate(g.model_dump() | {k: v for k, v in given.items() if v is not None})
    except ValidationError as err:
        first = err.errors()[0]
        print(f"openrs: --{first['loc'][0].replace('_', '-')}={first['input']}: {first['msg']}", file=sys.stderr)
        return 2
    pool = GradingPool(g.workers, g.timeout_s, g.memory_mb, g.max_answer_chars)
    total_failed = 0
    print("| file | rows | self-grade correct | failed |")
    print("|---|---|---|---|")
    failed_rows = []
    try:
        for path, rows in files:
            failures = check_file(path, rows, pool, args.answer_column)
            total_failed += len(failures)
            ok = len(rows) - len(failures)
            print(f"| {path.name} | {len(rows)} | {ok} ({ok / len(rows):.1%}) | {len(failures)} |")
            failed_rows.extend((path.name, *f) for f in failures)
    finally:
        pool.close()
    if failed_rows:
        by_outcome = collections.Counter(r[3] for r in failed_rows)
        print(f"\nfailed rows ({dict(by_outcome)}):")
        for name, rid, answer, outcome in failed_rows:
            print(f"- {name} {rid}: {outcome}: {str(answer)[:120]!r}")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
