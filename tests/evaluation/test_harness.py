"""Estimators against hand-computed cases, interval coverage by simulation, benchmark loading and reports."""

import json
import os
import random
import shutil

import pytest

from openrs.base.errors import ConfigError
from openrs.data.benchmark import SHIPPED_NAMES, load_benchmark
from openrs.evaluation.estimators import bootstrap_interval, half_width, majority_correct, pass_at_k, samples_needed
from openrs.evaluation.harness import ProblemResult, Sample, evaluate, summarize, write_report


def test_pass_at_k_hand_computed():
    assert pass_at_k(4, 0, 1) == 0.0 and pass_at_k(4, 4, 2) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)  # C(3,2)/C(4,2) pairs without the right one
    assert pass_at_k(5, 2, 3) == pytest.approx(1 - 1 / 10)
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_majority_vote_hand_computed():
    assert majority_correct(["4", "5", "4"], [True, False, True])
    assert not majority_correct(["5", "4", "5", None, None], [False, True, False, False, False])
    assert majority_correct(["4", "5"], [True, False])  # tie: the answer seen first
    assert not majority_correct([None, None], [False, False])


def test_interval_covers_the_true_rate_at_about_its_nominal_rate():
    """Simulate AMC23-sized benchmarks (40 problems, 4 samples) drawn from a population of problems with
    known difficulty: the 95% interval must contain the population's mean pass rate ~95% of the time."""
    rng = random.Random(0)
    population = [rng.betavariate(0.6, 0.9) for _ in range(5000)]
    truth = sum(population) / len(population)
    trials, hits = 300, 0
    for t in range(trials):
        problems = rng.sample(population, 40)
        rates = [sum(rng.random() < p for _ in range(4)) / 4 for p in problems]
        low, high = bootstrap_interval([rates], resamples=500, seed=t)
        hits += low <= truth <= high
    assert 0.88 <= hits / trials <= 0.99, hits / trials


def test_samples_needed_arithmetic():
    assert samples_needed(30, 0.02) == 81  # AIME24: 1.96^2 * 0.25 / (30 * 0.02^2) = 80.03
    assert samples_needed(40, 0.02) == 61
    assert samples_needed(500, 0.02) == 5
    assert half_width(40, 1) == pytest.approx(0.155, abs=0.001)  # the paper's one sample on AMC23


def test_shipped_benchmarks_load_with_their_sizes():
    sizes = {name: len(load_benchmark(name)) for name in SHIPPED_NAMES}
    assert sizes == {"aime24": 30, "amc23": 40, "math500": 500, "minerva_math": 272, "olympiadbench": 675}


def test_broken_benchmark_row_is_named(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"problem": "1+1", "answer": "2"}\n{"problem": "2+2", "answer": ""}\n')
    with pytest.raises(ConfigError, match=r"b.jsonl:2: empty `answer`"):
        load_benchmark(str(path))
    path.write_text('{"problem": "1+1", "answer": "2"}\n{"problem": "2+2", "answer": "4"\n')
    with pytest.raises(ConfigError, match=r"b.jsonl:2: not a JSON object"):
        load_benchmark(str(path))
    path.write_text('{"question": "1+1", "answer": "2"}\n')
    with pytest.raises(ConfigError, match=r"b.jsonl:1: no `problem`"):
        load_benchmark(str(path))


def test_evaluate_grades_and_reports(tmp_path, job):
    """A scripted generator: the right answer in the first sample of every other problem."""
    bench = tmp_path / "mini.jsonl"
    bench.write_text("".join(json.dumps({"id": i, "problem": f"{i}+1", "answer": i + 1}) + "\n" for i in range(4)))

    def generate(prompts, n, temperature, top_p, max_new_tokens):
        out = []
        for i, _ in enumerate(prompts):
            right = Sample(f"so \\boxed{{{i + 1}}}", 5, False)
            wrong = Sample("\\boxed{0}", 3, False)
            out.append([right if (i % 2 == 0 and j == 0) else wrong for j in range(n)] + [])
        out[3][-1] = Sample("no box, cut off", max_new_tokens, True)
        return out

    smoke = job("+experiment=smoke", f"eval.benchmarks=[{bench}]", "eval.samples=3")

    class Tok:
        def apply_chat_template(self, messages, **_):
            return messages[-1]["content"]

    results = evaluate(generate, Tok(), smoke.eval, "", smoke.reward.grading)
    assert [(r.correct, r.samples, r.truncated) for r in results] == [(1, 3, 0), (0, 3, 0), (1, 3, 0), (0, 3, 1)]
    assert results[0].outcomes == ["correct", "wrong", "wrong"] and results[3].predictions[-1] is None
    (row,) = summarize(results)
    assert row["pass@1"] == pytest.approx(2 / 12) and row["pass@k"] == pytest.approx(0.5)
    assert row["maj@k"] == 0.0  # "0" wins every vote
    text = write_report(results, tmp_path / "out", "scripted")
    assert "| scripted | 16.7 [" in text
    lines = (tmp_path / "out" / "per_problem.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["outcomes"] == ["correct", "wrong", "wrong"]
    assert (tmp_path / "out" / "summary.csv").read_text().startswith("model,benchmark,problems,k,pass@1")


def test_summary_average_over_benchmarks():
    a = [ProblemResult("a", i, "1", correct=c, samples=1) for i, c in enumerate([1, 0])]
    b = [ProblemResult("b", i, "1", correct=1, samples=1) for i in range(3)]
    rows = summarize(a + b)
    assert [r["benchmark"] for r in rows] == ["a", "b", "average"]
    assert rows[-1]["pass@1"] == pytest.approx(0.75)  # mean of 0.5 and 1.0, not of 4/5 problems


def test_evaluate_cli_rejects_a_broken_benchmark_before_loading_a_model(tmp_path, run_openrs):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "x", "answer": null}\n')
    proc = run_openrs("-m", "openrs.evaluation", "+experiment=smoke", f"eval.benchmarks=[{bad}]",
                      f"hydra.run.dir={tmp_path}")  # fmt: skip
    assert proc.returncode == 2 and f"{bad}:1: empty `answer`" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("config", "message"),
    [(None, "has a config.json but no weights (none of *.safetensors, pytorch_model*.bin, *.index.json)"),
     ('{"model_type": "qwen2", "hidden_size": ', "config.json is not valid JSON (line 1, column 40: Expecting value)")],
)  # fmt: skip
def test_evaluate_cli_refuses_a_corrupt_model_folder_in_one_line(tmp_path, run_openrs, config, message):
    from openrs.model.lookup import SHIPPED_MODELS

    model = tmp_path / "model"  # a config.json and a tokenizer, no weights: the shipped architecture
    shutil.copytree(SHIPPED_MODELS["deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"], model)
    if config is not None:
        (model / "config.json").write_text(config)
    out = tmp_path / "out"
    proc = run_openrs("-m", "openrs.evaluation", "+experiment=smoke", "model.tiny=null", f"model.name_or_path={model}",
                      f"hydra.run.dir={out}")  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith(f"openrs-evaluate: model.name_or_path={model}: ")
    assert message in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr[-2000:]
    assert set(os.listdir(out)) <= {"__main__.log", ".hydra"}  # Hydra's record only: no results
