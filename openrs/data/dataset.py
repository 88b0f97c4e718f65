"""Training data: load each source, clean it, draw the mix, and render prompts with the chat template.

Cleaning is counted, never silent: rows with a missing or empty answer, exact duplicate problems, and
prompts longer than the prompt cap (TRL 1.x no longer truncates) are dropped and reported.
"""

from __future__ import annotations

import random
import sys
from collections import Counter

from openrs.base.errors import ConfigError
from openrs.config.job import DataConfig, DataSourceConfig, JobConfig
from openrs.data.arithmetic import problems
from openrs.data.files import check_row, local_file, quoted_keys, read_rows


def source_rows(path: str, split: str) -> list[dict]:
    """The rows of a data path as they are: a local file (config.local_file) or a hub dataset's split."""
    if (file := local_file(path)) is not None:
        return list(read_rows(file))
    import datasets

    return [dict(r) for r in datasets.load_dataset(path, split=split)]


def load_rows(source: DataSourceConfig, problem_column: str, answer_column: str) -> list[dict]:
    """Rows of one source as {problem, answer, source}; other columns are kept."""
    if (level := source.generated_level) is not None:
        rows = problems(level, "train", count=10**6, seed=0)
    else:
        rows = source_rows(source.path, source.split)
        columns = list(rows[0]) if rows else []
        if missing := {problem_column, answer_column} - set(columns):
            raise ConfigError(
                f"data: {source.path} has no column {sorted(missing)}; its columns are {quoted_keys(columns)}: "
                f"set data.problem_column / data.answer_column"
            )
    for i, row in enumerate(rows, 1):
        check_row(row, f"{source.path} row {i}", problem_column, answer_column)  # hub rows: not checked before
        row["problem"], row["answer"] = row.pop(problem_column), row.pop(answer_column)
        row["source"] = source.path
    return rows


def _draw(rows: list[dict], source: DataSourceConfig, rng: random.Random) -> list[dict]:
    if source.count is not None:
        n = source.count
    elif source.fraction is not None:
        n = round(len(rows) * source.fraction)
    else:
        return rows
    if n > len(rows):
        raise ConfigError(f"data: {source.path} has {len(rows)} usable rows, fewer than count={n}")
    return rng.sample(rows, n)


def build_mix(data: DataConfig) -> tuple[list[dict], Counter]:
    """The training rows of the mix and the counts of what was dropped and drawn, per reason."""
    rng = random.Random(data.seed)
    stats: Counter = Counter()
    seen: set[str] = set()
    mix = []
    for source in data.sources:
        kept = []
        for row in load_rows(source, data.problem_column, data.answer_column):
            stats["rows_read"] += 1
            if row["answer"] is None or not str(row["answer"]).strip():
                stats["dropped_empty_answer"] += 1
            elif row["problem"] in seen:
                stats["dropped_duplicate_problem"] += 1
            else:
                seen.add(row["problem"])
                kept.append(row)
        drawn = _draw(kept, source, rng)
        stats[f"drawn:{source.path}"] = len(drawn)
        mix += drawn
    return mix, stats


def chat_prompt(tokenizer, system: str, problem: str) -> str:
    """System prompt (if any) + problem in the model's chat template, ending with its generation prefill."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": problem}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def render_prompts(rows: list[dict], tokenizer, system: str, max_prompt_length: int) -> tuple[list[dict], int]:
    """Add `prompt` (chat_prompt) to each row; rows whose prompt exceeds max_prompt_length tokens are
    dropped. Returns (rows, n dropped)."""
    kept, dropped = [], 0
    for row in rows:
        prompt = chat_prompt(tokenizer, system, row["problem"])
        if len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) > max_prompt_length:
            dropped += 1
            continue
        kept.append({**row, "prompt": prompt, "answer": str(row["answer"])})
    return kept, dropped


def training_dataset(job: JobConfig, tokenizer):
    """The job's training set as a datasets.Dataset with columns prompt, answer, problem, source."""
    import datasets

    rows, stats = build_mix(job.data)
    rows, stats["dropped_prompt_too_long"] = render_prompts(
        rows, tokenizer, job.prompt.text, job.length.max_prompt_length
    )
    stats["rows"] = len(rows)
    print("data: " + ", ".join(f"{k} {v}" for k, v in stats.items()), file=sys.stderr)
    if not rows:
        raise ConfigError("data: no rows left after cleaning; check data.sources and length.max_prompt_length")
    keep = ("prompt", "answer", "problem", "source")
    return datasets.Dataset.from_list([{k: r[k] for k in keep} for r in rows]), stats
