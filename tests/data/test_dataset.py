"""Data mix, prompt rendering, the arithmetic generator, checkpoint discovery and launch commands: no training."""

import gzip
import json
import re
from pathlib import Path

import pytest

from openrs.base.errors import ConfigError
from openrs.config.curate import CurateSourceConfig
from openrs.config.job import DataConfig
from openrs.curate.pipeline import read_source
from openrs.data.arithmetic import problems
from openrs.data.dataset import build_mix, render_prompts
from openrs.model.tiny import build_tokenizer


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def mix(*sources: dict, **kw) -> DataConfig:
    full = [{"split": "train", "count": None, "fraction": None, **s} for s in sources]
    return DataConfig(sources=full, problem_column=kw.get("problem", "problem"),
                      answer_column=kw.get("answer", "answer"), seed=0)  # fmt: skip


def test_mix_drops_and_counts_bad_rows(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [
        {"problem": "1+1", "answer": "2"}, {"problem": "2+2", "answer": ""}, {"problem": "3+3", "answer": None},
        {"problem": "4+4", "answer": " "}, {"problem": "1+1", "answer": "2"}, {"problem": "5+5", "answer": "10"},
    ])  # fmt: skip
    b = write_jsonl(tmp_path / "b.jsonl", [{"problem": "5+5", "answer": "10"}, {"problem": "6+6", "answer": 12}])
    rows, stats = build_mix(mix({"path": a}, {"path": b}))
    assert sorted(r["problem"] for r in rows) == ["1+1", "5+5", "6+6"]
    assert stats["dropped_empty_answer"] == 3 and stats["dropped_duplicate_problem"] == 2  # within and across
    assert stats["rows_read"] == 8 and stats[f"drawn:{a}"] == 2 and stats[f"drawn:{b}"] == 1


def test_mix_draws_counts_and_fractions_reproducibly(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"problem": f"q{i}", "answer": str(i)} for i in range(100)])
    rows, _ = build_mix(mix({"path": path, "count": 30}))
    again, _ = build_mix(mix({"path": path, "count": 30}))
    assert len(rows) == 30 and rows == again
    assert len(build_mix(mix({"path": path, "fraction": 0.25}))[0]) == 25
    with pytest.raises(ConfigError, match="has 100 usable rows, fewer than count=101"):
        build_mix(mix({"path": path, "count": 101}))


def test_mix_reads_parquet_and_renamed_columns(tmp_path):
    import datasets

    path = str(tmp_path / "d.parquet")
    datasets.Dataset.from_list([{"question": "q", "final": "7", "extra": 1}]).to_parquet(path)
    rows, _ = build_mix(mix({"path": path}, problem="question", answer="final"))
    assert rows == [{"problem": "q", "answer": "7", "extra": 1, "source": path}]


def write_file(path: Path, rows: list[dict]) -> str:
    """Rows written as the kind of file the name says: .jsonl.gz, .json, .parquet, else JSON lines."""
    if path.name.endswith(".jsonl.gz"):
        path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        write_jsonl(path, rows)
    return str(path)


@pytest.mark.parametrize("name", ["d.jsonl", "d.jsonl.gz", "d.json", "d.parquet"])
def test_every_local_file_kind_is_checked_and_read_alike_by_data_and_curate(tmp_path, name, job):
    path = write_file(tmp_path / name, [{"problem": "1+1", "answer": "2"}, {"problem": "2+2", "answer": "4"}])
    job(f"data.sources=[{{path: {path}, split: train, count: null, fraction: null}}]")
    assert [r["problem"] for r in build_mix(mix({"path": path}))[0]] == ["1+1", "2+2"]
    source = CurateSourceConfig(name="s", path=path, split="train", problem_column="problem", answer_column="answer",
                          solution_column=None)  # fmt: skip
    assert [r["problem"] for r in read_source(source)] == ["1+1", "2+2"]


def test_an_unknown_local_file_kind_names_the_known_ones(tmp_path, job):
    path = tmp_path / "d.csv"
    path.write_text("problem,answer\n1+1,2\n")
    msg = "d.csv: unknown data file kind; use one of .jsonl, .jsonl.gz, .json, .parquet"
    with pytest.raises(ConfigError, match=msg):
        job(f"data.sources=[{{path: {path}, split: train, count: null, fraction: null}}]")
    with pytest.raises(ConfigError, match=msg):
        build_mix(mix({"path": str(path)}))
    lines = tmp_path / "lines.json"
    lines.write_text('{"problem": "1+1", "answer": "2"}\n{"problem": "2+2", "answer": "4"}\n')
    with pytest.raises(ConfigError, match="lines.json: not a JSON array of rows; JSON lines go in a .jsonl file"):
        build_mix(mix({"path": str(lines)}))


def test_missing_column_names_the_columns_and_the_fix(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [{"question": "1+1", "solution": "2"}])
    with pytest.raises(ConfigError, match=r"no column \['answer', 'problem'\].*question.*data.problem_column"):
        build_mix(mix({"path": path}))


def test_prompts_use_the_chat_template_and_drop_long_ones():
    tokenizer = build_tokenizer()
    rows = [{"problem": "What is 1+2?", "answer": 3}, {"problem": "x" * 100, "answer": "1"}]
    kept, dropped = render_prompts(rows, tokenizer, system="Be brief.", max_prompt_length=40)
    assert dropped == 1 and len(kept) == 1
    assert kept[0]["prompt"] == "Be brief.<|user|>What is 1+2?<|assistant|><think>\n"
    assert kept[0]["answer"] == "3"  # gold answers are text for the grader


def test_arithmetic_held_out_split_is_disjoint_and_unbiased():
    for level in ("easy", "hard"):
        train = problems(level, "train", 10**6, seed=0)
        test = problems(level, "test", 10**6, seed=0)
        assert not {r["problem"] for r in train} & {r["problem"] for r in test}
        assert 0.15 < len(test) / (len(train) + len(test)) < 0.25
        # Every last digit of the level's answers occurs in both splits (a modular rule once held out all
        # answers ending in 0 or 5, and the model never learned to write them).
        assert {r["answer"][-1] for r in test} == {r["answer"][-1] for r in train}
        assert len({r["answer"][-1] for r in test}) >= 9  # a carry never leaves a 9 in the units
        assert problems(level, "test", 5, seed=1) == problems(level, "test", 5, seed=1)


def test_solution_is_column_addition_in_the_paper_format():
    row = problems("hard", "train", 1, seed=0)[0]
    a, b = (int(x) for x in row["problem"].removeprefix("What is ").removesuffix("?").split("+"))
    assert row["solution"].endswith(f"</think>\n<answer>\n\\boxed{{{a + b}}}\n</answer>")
    assert row["solution"].startswith(f"{a % 10}+{b % 10}={a % 10 + b % 10}\n")






def source(path) -> str:
    return f"data.sources=[{{path: {path}, split: train, count: null, fraction: null}}]"


GOOD = [{"problem": f"{i}+1", "answer": str(i + 1)} for i in range(40)]


@pytest.mark.parametrize("name", ["d.jsonl", "d.jsonl.gz", "d.json", "d.parquet"])
def test_every_row_of_a_local_source_is_checked_before_the_job_starts(tmp_path, name, job):
    where = f"{name}:" if ".jsonl" in name else f"{name} row "  # JSON lines: file:line; else file row N
    cases = [
        (dict(GOOD[25], answer=None) | {"other": 1}, None),  # a null answer is dropped and counted later
        ({"problem": "26+1"}, f"{where}26: no data.answer_column='answer' column"),
        ({"problem": None, "answer": "1"}, f"{where}26: 'problem' is None, not a problem's text"),
        ({"problem": "  ", "answer": "1"}, f"{where}26: 'problem' is '  ', not a problem's text"),
        # A 2 MB value is quoted by its start only.
        ({"problem": ["x" * 2_000_000], "answer": "1"}, f"{where}26: 'problem' is {['x' * 58]!r}"[:-2] + "..."),
        ("26+1", f"{where}26: a row must be an object"),
    ]
    if name.endswith(".parquet"):  # a table: every row is an object with every column
        cases = cases[:1] + cases[2:4]
    for bad, message in cases:
        path = write_file(tmp_path / name, GOOD[:25] + [bad] + GOOD[26:])
        if message is None:
            job(source(path))
        else:
            with pytest.raises(ConfigError, match=f"data.sources\\[0\\].path: .*{re.escape(message)}"):
                job(source(path))
    empty = write_file(tmp_path / name, [])
    with pytest.raises(ConfigError, match=f"{re.escape(empty)} is empty \\(no rows\\)"):
        job(source(empty))


def test_a_2_mb_key_is_quoted_by_its_start(tmp_path, job):
    path = write_jsonl(tmp_path / "d.jsonl", GOOD[:3] + [{"k" * 2_000_000: "4+1", "answer": "5"}])
    with pytest.raises(ConfigError) as err:
        job(source(path))
    shown = f"this row has [{'k' * 59!r}"[:-1] + "... (2000002 characters), 'answer']: fix the row"
    assert shown in str(err.value) and len(str(err.value)) < 400


def test_a_malformed_line_is_named_by_file_and_line(tmp_path, job):
    lines = [json.dumps(r) for r in GOOD]
    lines[20] = '{"problem": "21+1", "answer": '
    text = "\n".join(lines) + "\n"
    (tmp_path / "d.jsonl").write_text(text)
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    for name in ("d.jsonl", "d.jsonl.gz"):
        with pytest.raises(ConfigError, match=f"{name}:21: not valid JSON \\(Expecting value, column 32\\)"):
            job(source(tmp_path / name))
    # A byte that is not UTF-8, far past any read buffer's first block: named by its line and column.
    raw = ("\n".join(json.dumps(r) for r in GOOD * 400) + "\n").encode()
    at = raw.index(b"\n", 40_000) + 1
    line = raw[:at].count(b"\n") + 1
    (tmp_path / "latin1.jsonl").write_bytes(raw[:at] + b'{"problem": "caf\xe9", "answer": "1"}\n' + raw[at:])
    with pytest.raises(ConfigError, match=f"latin1.jsonl:{line}: not UTF-8 \\(byte 0xe9 at column 17\\)"):
        job(source(tmp_path / "latin1.jsonl"))
    (tmp_path / "cut.jsonl.gz").write_bytes(gzip.compress(b"x" * 1000)[:20])
    with pytest.raises(ConfigError, match="cut.jsonl.gz: cannot be read as a jsonl.gz file"):
        job(source(tmp_path / "cut.jsonl.gz"))


def test_a_hub_row_without_problem_text_is_refused_when_it_loads(tmp_path, monkeypatch):
    import openrs.data.dataset

    bad = GOOD[:3] + [{"problem": None, "answer": "1"}]
    monkeypatch.setattr(openrs.data.dataset, "source_rows", lambda path, split: bad)
    with pytest.raises(ConfigError, match="owner/set row 4: 'problem' is None"):
        build_mix(mix({"path": "owner/set"}))


def test_a_file_name_with_an_unknown_suffix_is_never_taken_for_a_hub_id(tmp_path, monkeypatch, job):
    from openrs.data.files import is_hub_id

    monkeypatch.chdir(tmp_path)
    assert is_hub_id("owner/name") and is_hub_id("AI-MO/NuminaMath-1.5")
    assert not is_hub_id("data.jsonl.bz2") and not is_hub_id("owner/data.csv")
    with pytest.raises(ConfigError, match="data.jsonl.bz2: no such file"):
        job(source("data.jsonl.bz2"))
    (tmp_path / "data.jsonl.bz2").write_bytes(b"BZh9")
    with pytest.raises(ConfigError, match="data.jsonl.bz2: unknown data file kind"):
        job(source("data.jsonl.bz2"))




