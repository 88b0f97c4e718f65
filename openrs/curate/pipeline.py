"""Data curation: build a training set from its sources through named steps, reproducibly (`openrs-curate`).

The pipeline (a `curate` preset in conf/curate/) reads its sources, then runs its steps in order: `boxed`,
`answered`, `dedupe`, `decontaminate`, `difficulty` and `mix` (openrs.config has what each does). Every step
logs its counts and writes to the output folder `NN_step.jsonl` (the rows it kept) and `NN_step.removed.jsonl`
(each removed row with its reason; `dedupe` also writes `NN_dedupe.conflicts.jsonl`). `train.jsonl` is the
result and `manifest.json` records the sources (sha256), each step's parameters, counts and outputs (sha256).
The same config and seed give byte-identical files; `difficulty` caches its grades, so a rerun is free.
Train on the result with `data.sources=[{path: OUTPUT_DIR, ...}]`.

Every step is a function (rows, step config, job) -> (kept rows, removed rows each with a `reason`, notes: counts
for the manifest), found by its name in STEPS; a row is a dict with id (`source:index`), source, problem, answer
and what steps add (solution, pass_rate, level).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openrs.base.errors import ConfigError
from openrs.config.curate import (
    AnsweredStepConfig,
    BoxedStepConfig,
    CurateConfig,
    CurateSourceConfig,
    DecontaminateStepConfig,
    DedupeStepConfig,
    DifficultyStepConfig,
    MixStepConfig,
)
from openrs.config.job import JobConfig
from openrs.data.dataset import source_rows
from openrs.data.files import CURATED_FILE, local_file

# LaTeX that does not change the math: spacing, `$` and \( \) \[ \] delimiters, spacing commands, \left and \right,
# empty groups (x^{}_{}), the escape of \% and fill-in blanks (\_\_\_ or ___).
_LATEX_LAYOUT = re.compile(r"\s+|\\?\$|(?<!\\)\\[()\[\],;:! ]|\\(?:left|right)(?![a-zA-Z])|[_^]?\{\}|\\(?=%)|\\_|_{2,}")


# What a step returns: the rows it keeps, the rows it removes (each with its "reason"), and what it reports in the
# manifest ("conflicts" and "judge" go to files and the manifest's top instead).
Outcome = tuple[list[dict], list[dict], dict]

def _plain_latex(text: str) -> str:
    """Text without LaTeX layout (_LATEX_LAYOUT), with \\dfrac and \\tfrac as \\frac and a group of one character
    or command as that (x^{2} is x^2, \\frac{1}{2} is \\frac12, 90^{\\circ} is 90^\\circ: the same in LaTeX)."""
    text = re.sub(r"\\[dt]frac(?![a-zA-Z])", r"\\frac", _LATEX_LAYOUT.sub("", text))
    return re.sub(r"(?<!\\)\{(\w|\\[a-zA-Z]+)\}", r"\1", text)


def normalized(text: str) -> str:
    """Text compared up to case, spacing, punctuation and LaTeX layout (_plain_latex). Operators stay, so x+1=2 and
    x-1=2 differ, and so do ! and ' (factorial, prime) and a decimal point (1.5 is not 15)."""
    return re.sub(r"[,;:?\"`]|\.(?!\d)", "", _plain_latex(text).lower())


def _answer_key(answer: str) -> str:
    """An answer up to LaTeX layout (for conflicting duplicates)."""
    return _plain_latex(answer).rstrip(".")


def read_source(source: CurateSourceConfig) -> list[dict]:
    """Rows {id `name:i`, source, problem, answer, solution} of one source, in its order; the rows of a curated
    output keep their pass_rate and level, so that a mix can draw them by level."""
    raw = source_rows(source.path, source.split)
    wanted = [c for c in (source.problem_column, source.answer_column, source.solution_column) if c]
    if raw and (missing := [c for c in wanted if c not in raw[0]]):
        raise ConfigError(f"curate source {source.name}: {source.path} has no column {missing}; it has {list(raw[0])}")
    return [
        {
            "id": f"{source.name}:{i}",
            "source": source.name,
            "problem": str(r[source.problem_column] or ""),
            "answer": None if source.answer_column is None or r[source.answer_column] is None
            else str(r[source.answer_column]),
            **({"solution": str(r[source.solution_column] or "")} if source.solution_column else {}),
            **{k: r[k] for k in ("pass_rate", "level") if k in r},
        }
        for i, r in enumerate(raw)
    ]  # fmt: skip


def boxed(rows: list[dict], step: BoxedStepConfig, job: JobConfig) -> Outcome:
    from openrs.grading.answers import boxed_contents

    kept, removed = [], []
    for row in rows:
        if "solution" not in row:  # a source that has answers and no solutions
            kept.append(row)
            continue
        boxes = boxed_contents(row["solution"])
        if boxes and boxes[-1].strip():
            kept.append({**row, "answer": boxes[-1].strip()})
        else:
            removed.append({**row, "reason": "no \\boxed{} answer in the solution"})
    return kept, removed, {}


def answered(rows: list[dict], step: AnsweredStepConfig, job: JobConfig) -> Outcome:
    kept, removed = [], []
    for row in rows:
        if not re.search(r"[^\W_]", row["problem"]):  # no letter nor digit
            removed.append({**row, "reason": "empty problem"})
        elif row["answer"] is None or not row["answer"].strip():
            removed.append({**row, "reason": "empty answer"})
        else:
            kept.append(row)
    return kept, removed, {}


def dedupe(rows: list[dict], step: DedupeStepConfig, job: JobConfig) -> Outcome:
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[normalized(row["problem"])].append(row)
    conflicts = []
    for group in groups.values():
        answers = sorted({_answer_key(r["answer"] or "") for r in group})
        if len(answers) > 1:
            conflicts.append({"problem": group[0]["problem"], "ids": [r["id"] for r in group],
                              "answers": [r["answer"] for r in group]})  # fmt: skip
    in_doubt = {normalized(c["problem"]) for c in conflicts} if step.conflicting == "drop" else set()
    kept, removed = [], []
    for row in rows:
        key = normalized(row["problem"])
        first = groups[key][0]
        if key in in_doubt:
            removed.append({**row, "reason": "duplicate problem with conflicting answers"})
        elif row is not first:
            exact = row["problem"] == first["problem"]
            removed.append({**row, "reason": f"{'exact' if exact else 'normalised-text'} duplicate of {first['id']}"})
        else:
            kept.append(row)
    exact = len(rows) - len({r["problem"] for r in rows})
    return kept, removed, {"exact_duplicate_rows": exact, "normalised_duplicate_rows": len(rows) - len(groups) - exact,
                           "conflicting_problems": len(conflicts), "conflicts": conflicts}  # fmt: skip


def _words(text: str) -> list[str]:
    """Runs of letters and digits: `_` is LaTeX's subscript, so a_{1} and a_1 give the same words."""
    return re.findall(r"[^\W_]+", text.lower())


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class BenchmarkIndex:
    """The problems of the benchmarks to protect, for exact (normalised) and word n-gram lookups."""

    def __init__(self, benchmarks: list[str], n: int):
        from openrs.data.benchmark import load_benchmark

        self.n = n
        self.exact: dict[str, str] = {}
        self.grams: dict[tuple[str, ...], list[str]] = defaultdict(list)
        self.size: dict[str, int] = {}
        for name in benchmarks:
            for row in load_benchmark(name):
                key = f"{name}:{row['id']}"
                self.exact.setdefault(normalized(row["problem"]), key)
                grams = _ngrams(_words(row["problem"]), n)
                self.size[key] = len(grams)
                for gram in grams:
                    self.grams[gram].append(key)

    def match(self, problem: str, threshold: float) -> dict | None:
        """{benchmark problem, kind, overlap} of the benchmark problem this one matches, else None. overlap is the
        share of the training problem's n-grams found in that benchmark problem."""
        if (key := self.exact.get(normalized(problem))) is not None:
            return {"benchmark_problem": key, "kind": "exact", "overlap": 1.0}
        grams = _ngrams(_words(problem), self.n)
        hits: Counter = Counter(key for gram in grams for key in self.grams.get(gram, ()))
        if not hits:
            return None
        key, count = min(hits.items(), key=lambda kv: (-kv[1], kv[0]))
        overlap = count / len(grams)
        return (
            {"benchmark_problem": key, "kind": "ngram", "overlap": round(overlap, 4)} if overlap >= threshold else None
        )


def decontaminate(rows: list[dict], step: DecontaminateStepConfig, job: JobConfig) -> Outcome:
    from tqdm.auto import tqdm

    index = BenchmarkIndex(step.benchmarks, step.ngram)
    kept, removed = [], []
    for row in tqdm(rows, desc="decontaminate", unit="row", file=sys.stderr, mininterval=2):
        found = index.match(row["problem"], step.threshold)
        if found is None:
            kept.append(row)
        else:
            removed.append({**row, "reason": f"{found['kind']} match of {found['benchmark_problem']}", **found})
    by_benchmark = Counter(r["benchmark_problem"].split(":")[0] for r in removed)
    return kept, removed, {"removed_by_benchmark": dict(sorted(by_benchmark.items()))}


def _judge_key(job: JobConfig, step: DifficultyStepConfig) -> str:
    """What a difficulty grade depends on besides the problem: the model, prompt, sampling and grading."""
    settings = {"model": job.model.model_dump(), "system": job.prompt.text, "seed": job.seed,
                "grading": job.reward.grading.model_dump(), "max_prompt_length": job.length.max_prompt_length,
                **step.model_dump(include={"samples", "temperature", "top_p", "max_new_tokens"})}  # fmt: skip
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _row_key(row: dict) -> str:
    return hashlib.sha256(json.dumps([row["problem"], row["answer"]]).encode()).hexdigest()


def _grade(rows: list[dict], step: DifficultyStepConfig, job: JobConfig, cache: Path) -> dict[str, dict]:
    """Grade of each row by _row_key ({correct, samples}, or {too_long} when its prompt exceeds the judge's
    cap): from the cache, judging and caching the rows it lacks."""
    import tempfile

    from openrs.config.job import EvalConfig
    from openrs.data.dataset import render_prompts
    from openrs.evaluation.backends import generator
    from openrs.evaluation.harness import evaluate

    grades = {g["key"]: g for g in map(json.loads, cache.read_text().splitlines())} if cache.is_file() else {}
    todo = [r for r in rows if _row_key(r) not in grades]
    print(f"curate difficulty: {len(rows) - len(todo)} of {len(rows)} problems graded in {cache}", file=sys.stderr)
    if not todo:
        return grades
    generate, tokenizer, close = generator(job, step.max_new_tokens, step.batch_size)
    try:
        fits = {r["id"] for r in render_prompts(todo, tokenizer, job.prompt.text, job.length.max_prompt_length)[0]}
        new = [{"key": _row_key(r), "too_long": True} for r in todo if r["id"] not in fits]
        judged = [r for r in todo if r["id"] in fits]
        with tempfile.TemporaryDirectory() as tmp:
            problems = Path(tmp) / "problems.jsonl"
            _write(problems, [{"id": i, "problem": r["problem"], "answer": r["answer"]} for i, r in enumerate(judged)])
            cfg = EvalConfig(benchmarks=[str(problems)], samples=step.samples, samples_per_benchmark={},
                             temperature=step.temperature, top_p=step.top_p, max_new_tokens=step.max_new_tokens,
                             every_steps=None, batch_size=step.batch_size, protocol="openrs")  # fmt: skip
            results = evaluate(generate, tokenizer, cfg, job.prompt.text, job.reward.grading) if judged else []
    finally:
        close()
    new += [
        {"key": _row_key(r), "correct": x.correct, "samples": x.samples} for r, x in zip(judged, results, strict=True)
    ]
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache, "a") as f:
        f.writelines(json.dumps(g, sort_keys=True) + "\n" for g in new)
    return grades | {g["key"]: g for g in new}


def difficulty(rows: list[dict], step: DifficultyStepConfig, job: JobConfig) -> Outcome:
    from openrs import cache_dir

    unjudged = 0
    if step.sample is not None and step.sample < len(rows):
        chosen = set(random.Random(job.seed).sample(range(len(rows)), step.sample))
        unjudged, rows = len(rows) - len(chosen), [r for i, r in enumerate(rows) if i in chosen]
    grades = _grade(rows, step, job, cache_dir() / "difficulty" / f"{_judge_key(job, step)}.jsonl")
    kept, removed = [], []
    for row in rows:
        grade = grades[_row_key(row)]
        if grade.get("too_long"):
            removed.append({**row, "reason": f"prompt over length.max_prompt_length={job.length.max_prompt_length}"})
            continue
        rate = grade["correct"] / grade["samples"]
        level = next((name for name, (low, high) in step.bands.items() if low <= rate <= high), None)
        judged = {**row, "pass_rate": rate}
        if level is None:
            removed.append({**judged, "reason": "pass rate outside every band"})
        else:
            kept.append({**judged, "level": level})
    levels = dict(sorted(Counter(r["level"] for r in kept).items()))
    return kept, removed, {"not_sampled": unjudged, "levels": levels, "judge": job.model.name_or_path}


def mix(rows: list[dict], step: MixStepConfig, job: JobConfig) -> Outcome:
    rng = random.Random(job.seed)
    drawn, taken = [], set()
    for c in step.counts:
        pool = [r for r in rows if r["source"] == c.source and (c.level is None or r.get("level") == c.level)
                and r["id"] not in taken]  # fmt: skip
        if c.count is not None and len(pool) < c.count:
            raise ConfigError(
                f"curate mix: source {c.source} level {c.level} has {len(pool)} rows left, fewer than count={c.count}; "
                "lower the count or loosen the earlier steps"
            )
        picked = pool if c.count is None else rng.sample(pool, c.count)
        taken.update(r["id"] for r in picked)
        drawn += picked
    return drawn, [], {"not_drawn": len(rows) - len(drawn)}


# Every step by its name (the `step` key of conf/curate/), one signature: (rows, the step's config, the job).
STEPS: dict[str, Callable[[list[dict], Any, JobConfig], Outcome]] = {
    "boxed": boxed, "answered": answered, "dedupe": dedupe, "decontaminate": decontaminate, "difficulty": difficulty,
    "mix": mix,
}  # fmt: skip


def _write(path: Path, rows: list[dict]) -> str:
    """Rows as JSON lines (sorted keys, so reruns are byte-identical); returns the file's sha256."""
    data = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows).encode()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def curate(cfg: CurateConfig, job: JobConfig, out: Path) -> dict:
    """Run the pipeline into out; returns the manifest (also out/manifest.json)."""
    out.mkdir(parents=True, exist_ok=True)
    rows, sources = [], []
    for source in cfg.sources:
        read = read_source(source)
        file = local_file(source.path)
        sources.append({**source.model_dump(), "rows": len(read), "sha256": _sha256(file) if file else None})
        print(f"curate: read {len(read)} rows of {source.name} ({source.path})", file=sys.stderr)
        rows += read
    manifest = {"seed": job.seed, "sources": sources, "steps": []}
    for n, step in enumerate(cfg.steps, 1):
        name = f"{n:02d}_{step.step}"
        kept, removed, notes = STEPS[step.step](rows, step, job)
        if judge := notes.pop("judge", None):
            manifest["judge"] = judge
        entry = {"step": step.step, "params": step.model_dump(exclude={"step"}), "rows_in": len(rows),
                 "rows_out": len(kept), "removed": len(removed)}  # fmt: skip
        if conflicts := notes.pop("conflicts", None):
            entry["conflicts_file"] = f"{name}.conflicts.jsonl"
            entry["conflicts_sha256"] = _write(out / entry["conflicts_file"], conflicts)
        entry |= notes
        entry["reasons"] = dict(sorted(Counter(r["reason"].split(" of ")[0] for r in removed).items()))
        entry["output"], entry["sha256"] = f"{name}.jsonl", _write(out / f"{name}.jsonl", kept)
        if removed:
            entry["removed_file"] = f"{name}.removed.jsonl"
            entry["removed_sha256"] = _write(out / entry["removed_file"], removed)
        manifest["steps"].append(entry)
        print(f"curate {name}: {len(rows)} in, {len(kept)} out, {len(removed)} removed "
              f"{json.dumps(entry['reasons'])} {json.dumps(notes)}", file=sys.stderr)  # fmt: skip
        rows = kept
    manifest["output"] = {"file": CURATED_FILE, "rows": len(rows), "sha256": _write(out / CURATED_FILE, rows)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


