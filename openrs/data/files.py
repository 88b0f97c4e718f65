"""Local data files: which path names a shipped set, a file, a curated folder or a hub dataset; reading their
rows lazily; and the checks every row of a local source passes before anything loads."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openrs.base.errors import ConfigError

if TYPE_CHECKING:
    from openrs.config.job import DataConfig

LOCAL_DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet")
# The rows a curation run produced (openrs.curate), in its output folder; data.sources may name the folder.
CURATED_FILE = "train.jsonl"
# Training sets shipped with openrs, by the name a data path gives.
SHIPPED_DATA = {"deepscaler_preview": Path(__file__).parent / "training" / "deepscaler_preview_40315.jsonl.gz"}


# A name ending in one of these is a file, never a hub dataset id (which a missing file would be tried as).
_FILE_SUFFIXES = (".json", ".jsonl", ".parquet", ".pq", ".csv", ".tsv", ".txt", ".arrow", ".gz", ".bz2", ".xz", ".zst",
                  ".zip", ".tar", ".lz4", ".7z")  # fmt: skip


def is_hub_id(path: str) -> bool:
    """Whether a data path names a hub dataset (`owner/name`) rather than a shipped set, a local file or folder."""
    local = path.startswith((".", "/", "~")) or path.lower().endswith(_FILE_SUFFIXES) or Path(path).exists()
    return path.count("/") <= 1 and not local and path not in SHIPPED_DATA


def local_file(path: str) -> Path | None:
    """The file a data path reads: a shipped set's, the path itself, or the train.jsonl of a curated output
    folder; None for a hub dataset id. Raises ConfigError when a local path has no such file."""
    if path in SHIPPED_DATA:
        return SHIPPED_DATA[path]
    if is_hub_id(path):
        return None
    local = Path(path).expanduser()
    file = local / CURATED_FILE if local.is_dir() else local
    if not file.is_file():
        raise ConfigError(f"{path}: no such file, nor a curated folder with {CURATED_FILE}; "
                          "for a hub dataset give its id, owner/name")  # fmt: skip
    return file


def read_rows(path: Path) -> Iterator[dict]:
    """The rows of a local data file, lazily (its first row costs one line): JSON lines (.jsonl, or gzipped
    .jsonl.gz), a JSON array of rows (.json) or Parquet. Raises ConfigError naming the file (and line) that
    cannot be read."""
    return (row for _, row in numbered_rows(path))


def numbered_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, row) for each row of a local data file (read_rows), where = `file:line` for JSON lines, else
    `file row N` (N from 1)."""
    try:
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
                for number, raw in enumerate(f, 1):
                    try:  # line by line, so that a bad byte is reported by its line, not its place in a buffer
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError as err:
                        byte = f"byte 0x{raw[err.start]:02x} at column {err.start + 1}"
                        raise ConfigError(f"{path}:{number}: not UTF-8 ({byte}): save the file as UTF-8") from None
                    if line.strip():
                        try:
                            row = json.loads(line)
                        except json.JSONDecodeError as err:
                            problem = f"not valid JSON ({err.msg}, column {err.pos + 1})"  # pos: the line may end in \n
                            raise ConfigError(f"{path}:{number}: {problem}") from None
                        yield f"{path}:{number}", row
        elif path.suffix == ".json":
            try:
                rows = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                at = f"line {err.lineno}: {err.msg}, column {err.colno}"
                raise ConfigError(f"{path}: not a JSON array of rows; JSON lines go in a .jsonl file ({at})") from None
            if not isinstance(rows, list):
                raise ConfigError(f"{path}: not a JSON array of rows; JSON lines go in a .jsonl file")
            yield from ((f"{path} row {i}", row) for i, row in enumerate(rows, 1))
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq

            start = 1
            for batch in pq.ParquetFile(path).iter_batches():
                yield from ((f"{path} row {i}", row) for i, row in enumerate(batch.to_pylist(), start))
                start += batch.num_rows
        else:
            raise ConfigError(f"{path}: unknown data file kind; use one of {', '.join(LOCAL_DATA_SUFFIXES)}")
    except ConfigError:
        raise
    except (OSError, EOFError, ValueError) as err:  # not gzip, cut short, not UTF-8, not Parquet
        raise ConfigError(f"{path}: cannot be read as a {path.name.partition('.')[2]} file ({err})") from None


def quoted(value: Any) -> str:
    """repr(value) for a message, a long one (over 80 characters) by its first 60 and its length: a 2 MB value or
    key is quoted by its start, not as a 2 MB line."""
    shown = repr(value)
    return shown if len(shown) <= 80 else f"{shown[:60]}... ({len(shown)} characters)"


def quoted_keys(keys: Iterable[Any]) -> str:
    """A row's column names for a message, each quoted(), the first 20 of them and then their count."""
    keys = list(keys)
    more = f", ... ({len(keys)} columns)" if len(keys) > 20 else ""
    return f"[{', '.join(quoted(k) for k in keys[:20])}{more}]"


def check_row(row: Any, where: str, problem_column: str, answer_column: str) -> None:
    """Raise ConfigError unless row is an object with problem text and an answer column (a null or empty answer
    is allowed: such rows are dropped and counted when the mix is built)."""
    if not isinstance(row, dict):
        raise ConfigError(f"{where}: a row must be an object with {problem_column!r} and {answer_column!r}, "
                          f"not {type(row).__name__}")  # fmt: skip
    for key, column in (("problem_column", problem_column), ("answer_column", answer_column)):
        if column not in row:
            raise ConfigError(f"{where}: no data.{key}={column!r} column; this row has {quoted_keys(row)}: fix the "
                              f"row or set data.{key}")  # fmt: skip
    problem = row[problem_column]
    if not isinstance(problem, str) or not problem.strip():
        raise ConfigError(f"{where}: {problem_column!r} is {quoted(problem)}, not a problem's text: fix or remove the "
                          "row")  # fmt: skip


def check_local_columns(data: DataConfig) -> None:
    """Fail fast when a local source is missing, cannot be read, is empty, or has a row that lacks the configured
    problem/answer columns or problem text (check_row): every row of every local source, before anything loads.

    Hub sources are checked when they load (still before the model)."""
    for i, source in enumerate(data.sources):
        if source.generated_level is not None:
            continue
        try:
            path = local_file(source.path)
            if path is None:
                continue
            rows = 0
            for where, row in numbered_rows(path):
                check_row(row, where, data.problem_column, data.answer_column)
                rows += 1
        except ConfigError as err:
            raise ConfigError(f"data.sources[{i}].path: {err}") from None
        if not rows:
            raise ConfigError(f"data.sources[{i}].path: {path} is empty (no rows)")
