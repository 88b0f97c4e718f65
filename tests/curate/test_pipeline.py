"""Data curation: each step on constructed rows, decontamination and deduplication of the shipped DeepScaleR
copy, config errors, and the whole `python -m openrs.curate` run twice (byte-identical, counts that add up)."""

import json
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from openrs import CONF_DIR
from openrs.base.errors import ConfigError
from openrs.config.curate import (
    AnsweredStepConfig,
    BoxedStepConfig,
    CurateSourceConfig,
    DecontaminateStepConfig,
    DedupeStepConfig,
    MixCountConfig,
    MixStepConfig,
)
from openrs.config.job import DataSourceConfig
from openrs.curate.__main__ import load_curate
from openrs.curate.pipeline import answered, boxed, curate, decontaminate, dedupe, mix, normalized, read_source
from openrs.data.dataset import load_rows
from openrs.data.files import CURATED_FILE

DEEPSCALER = CurateSourceConfig(name="deepscaler", path="deepscaler_preview", split="train", problem_column="problem",
                          answer_column="answer", solution_column=None)  # fmt: skip
FIVE = ["aime24", "amc23", "math500", "minerva_math", "olympiadbench"]


def row(i: int, problem: str, answer: str | None = "1", source: str = "s", **extra) -> dict:
    return {"id": f"{source}:{i}", "source": source, "problem": problem, "answer": answer, **extra}


def write_jsonl(path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def job(job):
    """The job a step runs in (only the difficulty step's judge and the mix's seed read it): the smoke job, in place
    of conftest's job factory."""
    return job("+experiment=smoke")


def seeded(job, seed: int):
    return job.model_copy(update={"seed": seed})


@pytest.fixture(scope="module")
def deepscaler(job) -> list[dict]:
    return answered(read_source(DEEPSCALER), AnsweredStepConfig(step="answered"), job)[0]


def test_decontamination_removes_the_benchmark_problems_of_the_shipped_deepscaler(deepscaler, job):
    kept, removed, report = decontaminate(deepscaler, DecontaminateStepConfig(step="decontaminate", benchmarks=FIVE,
                                                                        ngram=8, threshold=0.5), job)  # fmt: skip
    exact = {r["id"]: r["benchmark_problem"] for r in removed if r["kind"] == "exact"}
    assert exact == {  # identical up to case, spacing, punctuation and LaTeX layout (\( \), $, x^{2} for x^2)
        "deepscaler:3977": "math500:test/intermediate_algebra/2015.json",
        "deepscaler:5788": "math500:test/intermediate_algebra/1791.json",
        "deepscaler:6417": "math500:test/intermediate_algebra/1365.json",
        "deepscaler:6718": "math500:test/intermediate_algebra/90.json",
        "deepscaler:6976": "math500:test/intermediate_algebra/2146.json",
        "deepscaler:7141": "math500:test/intermediate_algebra/1411.json",
        "deepscaler:7202": "math500:test/intermediate_algebra/1849.json",
        "deepscaler:6186": "olympiadbench:1930",
    }
    found = {r["id"]: (r["kind"], r["benchmark_problem"], r["overlap"]) for r in removed}
    # \overline{r_1} for \overline{r}_1: different LaTeX, the same words once `_` splits them
    assert found["deepscaler:6593"] == ("ngram", "math500:test/intermediate_algebra/582.json", 1.0)
    # n-gram matches: the same problem reworded ("[i]Version 1[/i]. Let n be ..."), or with other numbers
    assert found["deepscaler:6344"][:2] == ("ngram", "olympiadbench:1872")
    assert all(r["overlap"] >= 0.5 for r in removed) and len(kept) + len(removed) == len(deepscaler)
    assert sum(report["removed_by_benchmark"].values()) == len(removed)


def test_dedupe_of_the_shipped_deepscaler_reports_its_conflicting_duplicates(deepscaler, job):
    assert len(deepscaler) == 40315 - 6  # the 6 empty answers went first
    kept, removed, report = dedupe(deepscaler, DedupeStepConfig(step="dedupe", conflicting="drop"), job)
    assert report["exact_duplicate_rows"] == 928 and report["normalised_duplicate_rows"] == 588
    assert report["conflicting_problems"] == 191 and len(kept) == 38602
    assert all(len(set(c["answers"])) > 1 for c in report["conflicts"])
    assert len({r["problem"] for r in kept}) == len(kept) == len(deepscaler) - len(removed)


def test_normalised_text_keeps_operators_and_drops_layout(job):
    different = [("x+1=2", "x-1=2"), ("x<1", "x>1"), ("a/b", "ab"), ("2^{n+1}", "2^{n}+1"), ("x=1.5", "x=15"),
                 ("5!", "5"), ("f'(x)", "f(x)")]  # fmt: skip
    assert all(normalized(a) != normalized(b) for a, b in different)
    same = [("Find $x^{2}$.", "find  x^2"), (r"Let \( \dfrac{1}{2} \) be", r"let \frac12 be"),
            (r"\left( a \right)", "(a)"), (r"costs \$5", "costs $5"), (r"90^{\circ}, 30\%?", r"90^\circ 30%"),
            (r"$k^{}_{}$ is \_\_\_.", "k is")]  # fmt: skip
    assert all(normalized(a) == normalized(b) for a, b in same)
    kept, _, report = dedupe([row(0, "Solve x+1=2.", "1"), row(1, "Solve x-1=2.", "3")],
                             DedupeStepConfig(step="dedupe", conflicting="drop"), job)  # fmt: skip
    assert len(kept) == 2 and report["conflicting_problems"] == 0


def test_dedupe_keeps_the_first_of_each_problem_and_drops_those_in_doubt(job):
    rows = [row(0, "What is 1+1?", "2"), row(1, "what is 1 + 1", "2"), row(2, "What is 1+1?", "2"),
            row(3, "Find x.", "3"), row(4, "find  x", "4"), row(5, "Other.", "\\dfrac{1}{2}"),
            row(6, "other", "\\frac{1}{2} ")]  # fmt: skip
    kept, removed, report = dedupe(rows, DedupeStepConfig(step="dedupe", conflicting="drop"), job)
    assert [r["id"] for r in kept] == ["s:0", "s:5"]  # \dfrac{1}{2} and \frac{1}{2} agree
    reasons = {r["id"]: r["reason"] for r in removed}
    assert reasons["s:1"] == "normalised-text duplicate of s:0" and reasons["s:2"] == "exact duplicate of s:0"
    assert reasons["s:3"] == reasons["s:4"] == "duplicate problem with conflicting answers"
    assert report["conflicting_problems"] == 1 and report["exact_duplicate_rows"] == 1
    kept, _, _ = dedupe(rows, DedupeStepConfig(step="dedupe", conflicting="keep_first"), job)
    assert [r["id"] for r in kept] == ["s:0", "s:3", "s:5"]


def test_boxed_takes_the_last_boxed_answer_and_drops_rows_without_one(job):
    rows = [row(0, "p", None, solution="so \\boxed{1} then \\boxed{\\frac{1}{2}}"),
            row(1, "q", None, solution="no box"), row(2, "r", "7")]  # fmt: skip
    kept, removed, _ = boxed(rows, BoxedStepConfig(step="boxed"), job)
    assert [(r["id"], r["answer"]) for r in kept] == [("s:0", "\\frac{1}{2}"), ("s:2", "7")]
    assert removed[0]["id"] == "s:1" and "no \\boxed{}" in removed[0]["reason"]


def test_answered_drops_empty_problems_and_answers(job):
    rows = [row(0, "p", "1"), row(1, " ?! ", "1"), row(2, "q", None), row(3, "r", "  ")]
    kept, removed, _ = answered(rows, AnsweredStepConfig(step="answered"), job)
    assert [r["id"] for r in kept] == ["s:0"]
    assert [r["reason"] for r in removed] == ["empty problem", "empty answer", "empty answer"]


def test_mix_draws_its_counts_with_the_seed_and_names_a_short_source(job):
    rows = [row(i, f"p{i}", source="a", level="easy" if i % 2 else "hard") for i in range(20)]
    rows += [row(i, f"q{i}", source="b") for i in range(5)]
    counts = [MixCountConfig(source="a", level="easy", count=4), MixCountConfig(source="b", level=None, count=5)]
    step = MixStepConfig(step="mix", counts=counts)
    drawn, _, report = mix(rows, step, seeded(job, 1))
    assert drawn == mix(rows, step, seeded(job, 1))[0] and drawn != mix(rows, step, seeded(job, 2))[0]
    assert [r["source"] for r in drawn] == ["a"] * 4 + ["b"] * 5 and all(r["level"] == "easy" for r in drawn[:4])
    assert report == {"not_drawn": 16}
    short = MixStepConfig(step="mix", counts=[MixCountConfig(source="b", level=None, count=6)])
    with pytest.raises(ConfigError, match="source b level None has 5 rows left, fewer than count=6"):
        mix(rows, short, seeded(job, 1))
    every = MixStepConfig(step="mix", counts=[MixCountConfig(source="a", level="hard", count=None)])
    assert [r["id"] for r in mix(rows, every, seeded(job, 1))[0]] == [f"a:{i}" for i in range(0, 20, 2)]  # in order


def test_open_rs_draws_its_easy_problems_from_what_open_deepscaler_judged(tmp_path, monkeypatch):
    """Easy means solved 4 times out of 4 by open-deepscaler's judge, among the rows its difficulty step kept: not a
    raw DeepScaleR row it dropped as conflicting or too long."""
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "outputs/curate/open_s1" / CURATED_FILE,
                [{"problem": f"Compute {i} + 100.", "answer": str(i + 100), "level": "hard", "pass_rate": 0.0}
                 for i in range(3)])  # fmt: skip
    judged = [{"problem": f"Compute {i} times 7.", "answer": str(7 * i), "level": "hard" if i < 3 else "easy",
               "pass_rate": 0.25 if i < 3 else 1.0} for i in range(6)]  # fmt: skip
    write_jsonl(tmp_path / "outputs/curate/open_deepscaler/04_difficulty.jsonl", judged)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("curate", overrides=[f"output_dir={tmp_path / 'out'}", "curate=open_rs",
                                           *(f"curate.steps.3.counts.{i}.count=2" for i in range(3))])  # fmt: skip
    curate(*load_curate(cfg), tmp_path / "out")
    out = [json.loads(line) for line in (tmp_path / "out" / CURATED_FILE).read_text().splitlines()]
    easy = [r for r in out if r.get("level") == "easy"]
    assert len(out) == 6 and len(easy) == 2 and all(r["pass_rate"] == 1.0 for r in easy)
    assert {r["problem"] for r in easy} <= {r["problem"] for r in judged[3:]}


@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONF_DIR / "curate").glob("*.yaml")))
def test_every_curate_preset_validates(preset):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("curate", overrides=["output_dir=/tmp/openrs-test", f"curate={preset}", "hardware=cpu"])
    curate_cfg, job = load_curate(cfg)
    assert curate_cfg.steps[0].step in ("boxed", "answered") and job.name == f"curate_{preset}"


def test_a_missing_local_source_is_named_before_anything_loads(tmp_path, run_openrs):
    proc = run_openrs("-m", "openrs.curate", "curate=open_rs", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "openrs.curate: outputs/curate/open_s1: no such file, nor a curated folder" in proc.stderr


def test_data_and_curate_sources_resolve_a_path_alike(tmp_path):
    shipped = load_rows(DataSourceConfig(path="deepscaler_preview", split="train", count=None, fraction=None),
                        "problem",
                        "answer")  # fmt: skip
    assert [r["problem"] for r in shipped] == [r["problem"] for r in read_source(DEEPSCALER)]
    missing = DEEPSCALER.model_copy(update={"path": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match="nope: no such file, nor a curated folder with train.jsonl"):
        read_source(missing)


@pytest.mark.parametrize(
    "override, message",
    [
        ("curate.steps.0.step=shuffle", "curate.steps[0]"),
        ("curate.steps.4.counts.0.source=s1", "mix counts name sources ['s1']; the sources are ['deepscaler']"),
        ("curate.steps.3.bands.hard=[0.8,0.2]", "bands.hard=[0.8, 0.2]: need 0 <= low <= high <= 1"),
        ("curate.sources.0.answer_column=null", "name neither answer_column nor solution_column"),
    ],
)
def test_a_bad_curate_config_names_the_key(override, message):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("curate", overrides=["output_dir=/tmp/openrs-test", override])
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_curate(cfg)


def curate_steps_edited(edit) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("curate", overrides=["output_dir=/tmp/openrs-test"])
    steps = OmegaConf.to_container(cfg.curate.steps)  # answered, dedupe, decontaminate, difficulty, mix
    edit(steps)
    cfg.curate.steps = steps
    return cfg


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.insert(1, s.pop()), "curate.steps: 'mix' must be the last step; move it after 'difficulty'"),
        (lambda s: s.append(s[-1]), "curate.steps: one 'mix' step at most, the last"),
        (
            lambda s: s.insert(3, s.pop(0)),
            "curate.steps: 'difficulty' grades answers, so 'answered' must come before "
            "it; move 'answered' before 'difficulty'",
        ),
        (
            lambda s: s[4]["counts"][0].update(level="easy"),
            "curate.steps: mix counts[0].level='easy' is no band of the difficulty step; use one of ['hard'] or null",
        ),
    ],
)
def test_curate_steps_out_of_order_name_the_fix(edit, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_curate(curate_steps_edited(edit))


@pytest.mark.slow
def test_curate_twice_gives_byte_identical_files_whose_counts_add_up_and_train(
    tmp_path, run_openrs, cache_with_the_tiny_model
):
    def curate_into(out: Path, cache: Path) -> str:
        if not cache.exists():  # a grade cache of its own, with the judge's weights linked in
            cache_with_the_tiny_model(cache)
        proc = run_openrs("-m", "openrs.curate", "curate.steps.3.sample=48", "curate.steps.4.counts.0.count=8",
                          f"hydra.run.dir={out}", env={"OPENRS_CACHE": str(cache)})  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stderr

    # Two runs, each with its own empty cache, so both judge every problem: equal bytes mean a deterministic
    # pipeline, not grades read back from the first run.
    outs = [tmp_path / "one", tmp_path / "two"]
    for out in outs:
        assert "0 of 48 problems graded" in curate_into(out, tmp_path / f"cache-{out.name}")
    files = sorted(p.name for p in outs[0].iterdir() if p.is_file() and p.suffix in (".jsonl", ".json"))
    assert CURATED_FILE in files and "manifest.json" in files
    assert all((outs[0] / f).read_bytes() == (outs[1] / f).read_bytes() for f in files)
    # A rerun on a filled cache judges nothing and writes the same files.
    assert "48 of 48 problems graded" in curate_into(tmp_path / "three", tmp_path / "cache-one")
    assert all((outs[0] / f).read_bytes() == (tmp_path / "three" / f).read_bytes() for f in files)
    manifest = json.loads((outs[0] / "manifest.json").read_text())
    rows = manifest["sources"][0]["rows"]
    for step in manifest["steps"]:
        assert step["rows_in"] == rows
        dropped = step["removed"] + step.get("not_sampled", 0) + step.get("not_drawn", 0)
        assert step["rows_in"] - dropped == step["rows_out"] == len((outs[0] / step["output"]).read_text().splitlines())
        rows = step["rows_out"]
    assert manifest["output"]["rows"] == rows == 8
    from openrs.config.job import DataSourceConfig
    from openrs.data.dataset import load_rows

    curated = load_rows(DataSourceConfig(path=str(outs[0]), split="train", count=None, fraction=None), "problem",
                        "answer")
    assert len(curated) == 8 and all(r["level"] == "hard" for r in curated)  # the data group reads the folder
